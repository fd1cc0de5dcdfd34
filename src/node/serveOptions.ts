import {capacityFromFlag} from '../cluster/capacityInput.js'
import {UserError} from '../errors/errors.js'
import {AddressSchema, NodeIdSchema} from '../model/ids.js'
import {type NodeLog} from './nodeLog.js'
import {type StorageNodeOptions} from './storageNode.js'

/** ServeFlags are `node serve`'s raw flag values. */
export interface ServeFlags {
  id: string
  listen: string
  advertise?: string
  'data-dir': string
  zone?: string
  capacity?: string
  token?: string
  'stats-interval': string
  'lease-ttl': string
  'tombstone-grace': string
  /** orphan-grace: optional so callers that predate it keep working (default 10m). */
  'orphan-grace'?: string
  'shutdown-timeout': string
  'max-clock-offset': string
  fsync: string
}

const UNITS: Record<string, number> = {ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000}

/** parseDuration reads `250ms`, `5s`, `10m`, `1h`, `7d` (or a bare number of seconds) into milliseconds. Throws UserError(BAD_INPUT) naming `flag`. */
export function parseDuration(input: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(input.trim())
  if (!m) throw new UserError('BAD_INPUT', `--${flag}: "${input}" is not a duration`, 'use e.g. 500ms, 5s, 10m, 1h')
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 's']!)
}

/** parseListen splits `HOST:PORT` (IPv6 in brackets; port 0 picks a free one). Throws UserError(BAD_INPUT). */
export function parseListen(input: string): {host: string; port: number} {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(input)
  const port = m ? Number(m[2]) : NaN
  if (!m || port > 65535) throw new UserError('BAD_INPUT', `--listen: "${input}" is not HOST:PORT`, 'e.g. --listen 127.0.0.1:7001')
  return {host: m[1]!.replace(/^\[|\]$/g, ''), port}
}

/** ORPHAN_GRACE_MIN_MS: below a second a sweep could race a move's own drop-then-join for no gain. */
const ORPHAN_GRACE_MIN_MS = 1000

function orphanGrace(raw: string | undefined): number {
  const ms = parseDuration(raw ?? '10m', 'orphan-grace')
  if (ms < ORPHAN_GRACE_MIN_MS) throw new UserError('BAD_INPUT', `--orphan-grace must be at least 1s (got ${raw})`, 'e.g. --orphan-grace 10m')
  return ms
}

/** serveOptions validates `node serve`'s flags into StorageNodeOptions. Throws UserError(BAD_INPUT) naming the flag. */
export function serveOptions(flags: ServeFlags, log: NodeLog): StorageNodeOptions {
  if (!NodeIdSchema.safeParse(flags.id).success) throw new UserError('BAD_INPUT', `--id: "${flags.id}" is not a valid node id`, 'use 1-63 letters, digits, "_", "." or "-"')
  const listen = parseListen(flags.listen)
  if (flags.advertise !== undefined && !AddressSchema.safeParse(flags.advertise).success) throw new UserError('BAD_INPUT', `--advertise: "${flags.advertise}" is not HOST:PORT`)
  if (flags.advertise === undefined && ['0.0.0.0', '::'].includes(listen.host)) {
    throw new UserError('BAD_INPUT', `--listen ${flags.listen} is a wildcard address others cannot dial`, 'pass --advertise HOST:PORT')
  }
  const statsIntervalMs = parseDuration(flags['stats-interval'], 'stats-interval')
  if (statsIntervalMs < 100) throw new UserError('BAD_INPUT', '--stats-interval must be at least 100ms')
  const leaseTtlSeconds = Math.round(parseDuration(flags['lease-ttl'], 'lease-ttl') / 1000)
  if (leaseTtlSeconds < 2) throw new UserError('BAD_INPUT', '--lease-ttl must be at least 2s')
  if (flags.fsync !== 'full' && flags.fsync !== 'normal') throw new UserError('BAD_INPUT', '--fsync must be full or normal')
  const maxClockOffsetMs = parseDuration(flags['max-clock-offset'], 'max-clock-offset')
  if (maxClockOffsetMs < 1) throw new UserError('BAD_INPUT', '--max-clock-offset must be at least 1ms', 'e.g. --max-clock-offset 500ms')
  return {
    id: flags.id,
    listenHost: listen.host,
    listenPort: listen.port,
    advertise: flags.advertise,
    dataDir: flags['data-dir'],
    zone: flags.zone,
    capacity: capacityFromFlag(flags.capacity),
    token: flags.token,
    statsIntervalMs,
    leaseTtlSeconds,
    tombstoneGraceMs: parseDuration(flags['tombstone-grace'], 'tombstone-grace'),
    orphanGraceMs: orphanGrace(flags['orphan-grace']),
    shutdownTimeoutMs: parseDuration(flags['shutdown-timeout'], 'shutdown-timeout'),
    maxClockOffsetMs,
    synchronous: flags.fsync === 'full' ? 'FULL' : 'NORMAL',
    log,
  }
}
