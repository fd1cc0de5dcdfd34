import {UserError} from '../errors/errors.js'
import {loadTlsMaterial} from '../transport/tlsMaterial.js'
import {AddressSchema, NodeIdSchema} from '../model/ids.js'
import {type Capacity} from '../model/resources.js'
import {formatListen, type ListenAddress} from '../model/units.js'
import {tuningEnvProblem} from './tuningEnv.js'
import {type DiskReserveSetting} from './diskReservePolicy.js'
import {type NodeLog} from './nodeLog.js'
import {type StorageNodeOptions} from './storageNode.js'

/** ServeFlags are `node serve`'s flag values, already parsed by the custom flag types (src/cli/flags.ts): durations in ms. */
export interface ServeFlags {
  id: string
  listen: ListenAddress
  advertise?: string
  'data-dir': string
  zone?: string
  capacity?: Capacity
  token?: string
  'stats-interval': number
  'lease-ttl': number
  'tombstone-grace': number
  /** orphan-grace: optional so callers that predate it keep working (default 10m). */
  'orphan-grace'?: number
  'shutdown-timeout': number
  'max-clock-offset': number
  fsync: string
  /** disk-reserve: optional so callers that predate it keep working (default auto). */
  'disk-reserve'?: DiskReserveSetting
  /** accept-empty-data: optional so callers that predate it keep working (default false). */
  'accept-empty-data'?: boolean
  /** TLS files (optional: plaintext without them); all three together. */
  'tls-cert'?: string
  'tls-key'?: string
  'tls-ca'?: string
}

/** ORPHAN_GRACE_MIN_MS: below a second a sweep could race a move's own drop-then-join for no gain. */
const ORPHAN_GRACE_MIN_MS = 1000

function orphanGrace(ms: number | undefined): number {
  const value = ms ?? 600_000
  if (value < ORPHAN_GRACE_MIN_MS) throw new UserError('BAD_INPUT', `--orphan-grace must be at least 1s (got ${value} ms)`, 'e.g. --orphan-grace 10m')
  return value
}

/**
 * serveOptions validates `node serve`'s flags, and the environment variables that tune it
 * (`env`, default process.env), into StorageNodeOptions. Throws UserError(BAD_INPUT) naming
 * the flag or variable.
 */
export function serveOptions(flags: ServeFlags, log: NodeLog, env: Record<string, string | undefined> = process.env): StorageNodeOptions {
  const tuning = tuningEnvProblem(env)
  if (tuning) throw new UserError('BAD_INPUT', tuning.message, tuning.fix)
  if (!NodeIdSchema.safeParse(flags.id).success) throw new UserError('BAD_INPUT', `--id: "${flags.id}" is not a valid node id`, 'use 1-63 letters, digits, "_", "." or "-"')
  const listen = flags.listen
  if (flags.advertise !== undefined && !AddressSchema.safeParse(flags.advertise).success) throw new UserError('BAD_INPUT', `--advertise: "${flags.advertise}" is not HOST:PORT`)
  // Port 0 binds a port only known once listening: a fixed --advertise port would name another one, and peers would dial a port the node is not on.
  if (flags.advertise !== undefined && listen.port === 0) {
    throw new UserError('BAD_INPUT', `--listen ${formatListen(listen)} picks any free port, which --advertise ${flags.advertise} cannot name`, `pass --listen with the port --advertise names, or drop --advertise (the node then advertises the --listen host with its bound port)`)
  }
  if (flags.advertise === undefined && ['0.0.0.0', '::'].includes(listen.host)) {
    throw new UserError('BAD_INPUT', `--listen ${formatListen(listen)} is a wildcard address others cannot dial`, listen.port === 0 ? 'listen on the address others dial (e.g. --listen 10.0.0.2:0), or on a fixed port with --advertise HOST:PORT' : 'pass --advertise HOST:PORT')
  }
  const statsIntervalMs = flags['stats-interval']
  if (statsIntervalMs < 100) throw new UserError('BAD_INPUT', '--stats-interval must be at least 100ms')
  const leaseTtlSeconds = Math.round(flags['lease-ttl'] / 1000)
  if (leaseTtlSeconds < 2) throw new UserError('BAD_INPUT', '--lease-ttl must be at least 2s')
  if (flags.fsync !== 'full' && flags.fsync !== 'normal') throw new UserError('BAD_INPUT', '--fsync must be full or normal')
  const maxClockOffsetMs = flags['max-clock-offset']
  if (maxClockOffsetMs < 1) throw new UserError('BAD_INPUT', '--max-clock-offset must be at least 1ms', 'e.g. --max-clock-offset 500ms')
  return {
    id: flags.id,
    listenHost: listen.host,
    listenPort: listen.port,
    advertise: flags.advertise,
    dataDir: flags['data-dir'],
    zone: flags.zone,
    capacity: flags.capacity,
    token: flags.token,
    statsIntervalMs,
    leaseTtlSeconds,
    tombstoneGraceMs: flags['tombstone-grace'],
    orphanGraceMs: orphanGrace(flags['orphan-grace']),
    shutdownTimeoutMs: flags['shutdown-timeout'],
    maxClockOffsetMs,
    synchronous: flags.fsync === 'full' ? 'FULL' : 'NORMAL',
    diskReserve: flags['disk-reserve'] ?? 'auto',
    acceptEmptyData: flags['accept-empty-data'] === true,
    // A node both serves (mutual TLS) and dials its peers, so it needs its own certificate.
    tls: loadTlsMaterial({cert: flags['tls-cert'], key: flags['tls-key'], ca: flags['tls-ca']}, 'certificate'),
    log,
  }
}
