import {Args, Flags} from '@oclif/core'
import {UserError} from '../errors/errors.js'
import {AddressSchema, badShardIdText, SHARD_LIST_HINT} from '../model/ids.js'
import {type Capacity, parseCapacity} from '../model/resources.js'
import {type ListenAddress, parseBytes, parseDuration, parseListen, parseRate} from '../model/units.js'
import {type LatencyTarget, parseLatencyTarget} from '../executor/latencyBaseline.js'
import {type DiskReserveSetting, parseDiskReserve} from '../node/diskReservePolicy.js'

/*
 * The custom flag types of every command, in one place: one parser per unit (durations,
 * byte rates, sizes, listen addresses, capacities), applied by oclif at parse time. A bad
 * value, from the command line or from a flag's environment variable, throws here and
 * becomes a one-line usage error with exit 2 (see renderError), before anything runs.
 * Defaults are given as the text a user would type (`withDefault('30s', parseDuration)`)
 * so help shows `[default: 30s]` and the value goes through the same parser.
 */

/**
 * TIMER_FLAG_MAX_MS is the `max` of every duration flag whose value one timer waits (an
 * interval, a lease TTL, a request timeout): 24 days. Node waits at most 2^31-1 ms (24.8 days)
 * in one timer and fires a longer one after 1 ms (a TimeoutOverflowWarning only): an
 * `--interval 30d` turned the autopilot's check loop into a busy loop, a `--node-timeout 30d`
 * timed every node request out at once. Flags whose value is only compared with clocks
 * (`--dead-after`, `--cool-down`, `--max-plan-age`), clamped before a timer (`--tombstone-grace`,
 * `--orphan-grace`) or waited in steps (`--drain-timeout`, `--request-timeout`: boundedWait.ts,
 * `--shutdown-timeout`) keep no such bound.
 */
export const TIMER_FLAG_MAX_MS = 24 * 86_400_000

/**
 * timerBound is the description and `max` of a duration flag whose value one timer waits
 * ({@link TIMER_FLAG_MAX_MS}), the maximum stated in its help: the limit that refuses a value
 * (exit 2) is the one the help shows, written once.
 */
export function timerBound(description: string): {description: string; max: number} {
  return {description: `${description}; at most ${formatMs(TIMER_FLAG_MAX_MS)}`, max: TIMER_FLAG_MAX_MS}
}

/** DurationOptions bound a duration flag: `min` and `max` in milliseconds. */
type DurationOptions = {
  min?: number
  max?: number
}

/**
 * durationFlag is a flag in milliseconds: `500ms`, `30s`, `5m`, `1h`, `7d`; a bare number
 * is seconds everywhere. `min` (ms) refuses shorter values, `max` (ms) longer ones.
 */
export const durationFlag = Flags.custom<number, DurationOptions>({
  helpValue: '<duration>',
  async parse(input, _ctx, opts) {
    const ms = parseDuration(input)
    if (opts.min !== undefined && ms < opts.min) throw new RangeError(`"${input}" is shorter than the minimum ${formatMs(opts.min)}`)
    if (opts.max !== undefined && ms > opts.max) throw new RangeError(`"${input}" is longer than the maximum ${formatMs(opts.max)}`)
    return ms
  },
})

/** rateFlag is a byte rate in bytes per second: `50MiB/s`, `64KiB/s` (the `/s` is optional). */
export const rateFlag = Flags.custom<number>({helpValue: '<rate>', parse: async (input) => parseRate(input)})

/**
 * rateOrAutoFlag is {@link rateFlag} that also takes the word `auto` (the executor's
 * adaptive throttle).
 */
export const rateOrAutoFlag = Flags.custom<number | 'auto'>({helpValue: '<rate>|auto', parse: async (input) => (input.trim() === 'auto' ? 'auto' : parseRate(input))})

/**
 * parseLatencyTargetFlag reads `--max-client-p99`: a factor (`2x`) of the clients' p99 before
 * the moves, or a duration of at least 1 ms (see parseLatencyTarget).
 */
export function parseLatencyTargetFlag(input: string): LatencyTarget {
  const t = parseLatencyTarget(input, parseDuration)
  if ('ms' in t && t.ms < 1) throw new RangeError(`"${input}" is shorter than the minimum 1ms`)
  return t
}

/** latencyTargetFlag is {@link parseLatencyTargetFlag} as a flag: `<duration>|<factor>x`. */
export const latencyTargetFlag = Flags.custom<LatencyTarget>({helpValue: '<duration>|<factor>x', parse: async (input) => parseLatencyTargetFlag(input)})

/** keysRateOrUnsetFlag: a positive whole number of keys per second, or `unset` (null); anything else is a usage error. */
export const keysRateOrUnsetFlag = Flags.custom<number | null>({
  helpValue: '<keys>|unset',
  parse: async (input) => {
    if (input.trim() === 'unset') return null
    if (!/^\d+$/.test(input.trim()) || !(Number(input) > 0)) throw new Error(`"${input}" is not a positive whole number of keys per second (or unset)`)
    return Number(input)
  },
})

/** BytesOptions bound a size flag: `min` in bytes. */
type BytesOptions = {
  min?: number
}

/**
 * bytesFlag is a size in bytes: `256KiB`, `100GiB`, `1.5MB` or plain bytes. `min` refuses
 * smaller values (a usage error naming the minimum), rather than raising them silently.
 */
export const bytesFlag = Flags.custom<number, BytesOptions>({
  helpValue: '<size>',
  async parse(input, _ctx, opts) {
    const bytes = parseBytes(input)
    if (opts.min !== undefined && bytes < opts.min) throw new RangeError(`"${input}" is smaller than the minimum ${formatSize(opts.min)}`)
    return bytes
  },
})

/** diskReserveFlag is `node serve --disk-reserve`: `auto` or a size, 0 turning the reserve off (see parseDiskReserve). */
export const diskReserveFlag = Flags.custom<DiskReserveSetting>({helpValue: '<size|auto>', parse: async (input) => parseDiskReserve(input)})

/** listenFlag is a `HOST:PORT` to listen on (IPv6 in brackets, port 0 = any free port). */
export const listenFlag = Flags.custom<ListenAddress>({helpValue: '<host:port>', parse: async (input) => parseListen(input)})

/**
 * routerAddressFlag is the `host:port` of a router to dial (`kv --router`). A URL, a missing
 * port or one out of range is a usage error here, before anything is sent: dialed, it failed
 * as a router that "did not answer" (exit 17), which sent operators looking for a down router.
 */
export const routerAddressFlag = Flags.custom<string>({
  helpValue: '<host:port>',
  parse: async (input) => {
    const address = AddressSchema.safeParse(input.trim())
    if (!address.success) throw new Error(`"${input}" is not HOST:PORT (a router address such as 127.0.0.1:7100, without a scheme)`)
    return address.data
  },
})

/** capacityFlag is a per-resource capacity: `reads=5000,writes=2000,bytes=100GiB` (any subset). */
export const capacityFlag = Flags.custom<Capacity>({helpValue: '<resource=value,...>', parse: async (input) => parseCapacity(input)})

/**
 * shardIdArg is a shard id argument: a whole number (shards are numbered from 0; splits take
 * new numbers). Anything that is not a whole number is BAD_INPUT (exit 2) naming the argument
 * as help shows it and the form it takes; oclif's own integer argument names neither. A
 * negative number passes as a number: the service, which reads the cluster, refuses it with
 * the ids the cluster has (as it does for an id the cluster lacks), which the parser cannot.
 */
export const shardIdArg = Args.custom<number>({
  parse: async (input, ctx) => parseShardIdArg(input, (ctx as {token?: {arg?: string}}).token?.arg ?? 'id'),
})

/** parseShardIdArg parses `input` as the shard id argument `name` (a whole number, maybe negative: see shardIdArg); throws UserError(BAD_INPUT) naming it. */
export function parseShardIdArg(input: string, name: string): number {
  const id = /^-?\d+$/.test(input) ? Number(input) : Number.NaN
  // `-0` is shard 0, not a negative id (and not -0 in a key or a JSON line).
  if (Number.isSafeInteger(id)) return id === 0 ? 0 : id
  throw new UserError('BAD_INPUT', badShardIdText(name, input), SHARD_LIST_HINT)
}

/**
 * withDefault gives a flag its default as typed text: the parsed value as `default` and the
 * text as `defaultHelp`, so help and the value never disagree.
 */
export function withDefault<T>(text: string, parse: (s: string) => T): {default: T; defaultHelp: () => Promise<string>} {
  return {default: parse(text), defaultHelp: async () => text}
}

function formatMs(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) if (ms % size === 0) return `${ms / size}${unit}`
  return `${ms}ms`
}

// formatSize writes a minimum as the user would type it (4KiB, not 4.0 KiB).
function formatSize(bytes: number): string {
  for (const [unit, size] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) if (bytes % size === 0) return `${bytes / size}${unit}`
  return `${bytes}`
}

/**
 * DATA_PLANE_TLS_FLAGS are the data-plane TLS files of every process that serves or dials
 * nodes and routers: PEM paths, also from SHARDCTL_TLS_CERT / _KEY / _CA (one identity per
 * machine). All absent: plaintext. Checked by loadTlsMaterial (src/transport/tlsMaterial.ts),
 * which names the flag and file of a bad value (exit 2).
 */
export const DATA_PLANE_TLS_FLAGS = {
  'tls-cert': Flags.string({helpGroup: 'TLS', description: 'PEM certificate this process presents on the data plane (`shardctl cert create-node` / `create-client`)', env: 'SHARDCTL_TLS_CERT'}),
  'tls-key': Flags.string({helpGroup: 'TLS', description: 'PEM private key of --tls-cert', env: 'SHARDCTL_TLS_KEY'}),
  'tls-ca': Flags.string({helpGroup: 'TLS', description: 'PEM bundle of the cluster CA(s) peers must be signed by; two CAs during a rotation', env: 'SHARDCTL_TLS_CA'}),
}

/** tlsPathsOf picks the {@link DATA_PLANE_TLS_FLAGS} values out of parsed flags. */
export function tlsPathsOf(flags: {'tls-cert'?: string; 'tls-key'?: string; 'tls-ca'?: string}): {cert?: string; key?: string; ca?: string} {
  return {cert: flags['tls-cert'], key: flags['tls-key'], ca: flags['tls-ca']}
}

/**
 * ROUTER_CREDENTIAL_FLAGS are how a client proves who it is to a router with authentication
 * on: a token (`shardctl user add` writes it to a file) or the --tls-cert of a user's client
 * certificate. Prefer the file or the environment: a token on the command line shows in `ps`.
 */
export const ROUTER_CREDENTIAL_FLAGS = {
  'auth-token-file': Flags.string({helpGroup: 'AUTH', description: "file holding the router user's token (from `shardctl user add --token-file`)", env: 'SHARDCTL_AUTH_TOKEN_FILE'}),
}
