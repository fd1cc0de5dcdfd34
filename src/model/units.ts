const BYTE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
  k: 2 ** 10,
  m: 2 ** 20,
  g: 2 ** 30,
  t: 2 ** 40,
}

/**
 * parseBytes reads a size such as `100GiB`, `1.5MB`, `512k` or `4096` (plain bytes).
 * Binary units (KiB, MiB, GiB, TiB, and bare K/M/G/T) are powers of 1024; KB/MB/GB/TB are
 * powers of 1000. Returns an integer; throws RangeError naming the input when malformed.
 */
export function parseBytes(input: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(input)
  const unit = m ? BYTE_UNITS[(m[2] || 'b').toLowerCase()] : undefined
  if (!m || unit === undefined) throw new RangeError(`"${input}" is not a size; use a number with an optional unit such as 512MiB, 100GiB or 4096`)
  const value = Number(m[1]) * unit
  if (!Number.isFinite(value) || value > Number.MAX_SAFE_INTEGER) throw new RangeError(`"${input}" is too large`)
  return Math.round(value)
}

/**
 * MIN_RATE_BYTES_PER_SEC is the slowest copy rate a throttle takes: one smallest copy frame
 * (MIN_FRAME_BYTES, 16 KiB) a second. Slower, each frame is held back for longer and longer
 * (at 1 B/s, four and a half hours), and the destination, hearing nothing for its idle
 * timeout, gives the source up as unreachable: the move aborts instead of going slowly.
 */
export const MIN_RATE_BYTES_PER_SEC = 16 * 1024

/**
 * parseRate reads a byte rate such as `50MiB/s` (the `/s` is optional) into bytes per
 * second. Throws RangeError naming the input for anything else, and for a rate below
 * {@link MIN_RATE_BYTES_PER_SEC} (zero included: a copy throttled to 0 would wait forever;
 * a rate is limited, never off).
 */
export function parseRate(input: string): number {
  let bytes: number
  const size = input.replace(/\/s\s*$/i, '')
  try {
    bytes = parseBytes(size)
  } catch (e) {
    // A well-formed rate past what a number holds is too large, not malformed ("is not a rate" sent the operator hunting for a typo).
    if (e instanceof RangeError && e.message === `"${size}" is too large`) throw new RangeError(`"${input}" is too large a rate; use bytes per second such as 1GiB/s`)
    throw new RangeError(`"${input}" is not a rate; use bytes per second such as 50MiB/s, 64KiB/s or 1048576`)
  }
  if (bytes < MIN_RATE_BYTES_PER_SEC) throw new RangeError(`"${input}" is not a usable rate: a copy sends frames of 16 KiB, and below 16KiB/s a destination waiting on one takes its source for dead (0 never finishes); use at least 16KiB/s, e.g. 64KiB/s`)
  return bytes
}

/** formatBytes renders a byte count with a binary unit, e.g. `1.5 GiB`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let v = n
  let i = 0
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`
}

/**
 * parseKeyValueList reads `a=1,b=2` into an object, checking every key is in `allowed`
 * and every value parses with `parseValue`. Throws RangeError naming the offending part,
 * or the input when it names no pair at all.
 */
export function parseKeyValueList<K extends string>(input: string, allowed: readonly K[], parseValue: (key: K, raw: string) => number): Partial<Record<K, number>> {
  const out: Partial<Record<K, number>> = {}
  const parts = input.split(',').map((s) => s.trim()).filter(Boolean)
  // An empty list (`--capacity ''`, a variable left unset) is a mistake, not "set nothing".
  if (parts.length === 0) throw new RangeError(`"${input}" names nothing; expected key=value pairs such as ${allowed[0]}=100 (keys: ${allowed.join(', ')})`)
  for (const part of parts) {
    const eq = part.indexOf('=')
    const key = (eq < 0 ? part : part.slice(0, eq).trim()) as K
    if (eq < 0) throw new RangeError(`"${part}" is not key=value; expected e.g. ${allowed[0]}=100`)
    if (!allowed.includes(key)) throw new RangeError(`unknown key "${key}" in "${input}"; allowed: ${allowed.join(', ')}`)
    if (key in out) throw new RangeError(`"${key}" given twice in "${input}"`)
    out[key] = parseValue(key, part.slice(eq + 1).trim())
  }
  return out
}

/**
 * parseDecimal reads a plain decimal number (`5000`, `1.5`, `.5`, `-2`), surrounding blanks
 * allowed, and returns NaN for anything else. Number() alone also takes `0x10` (16), `0b11`,
 * `0o7`, `1e3`, `Infinity` and `''` (0): a typo such as reads=0x10 was stored as 16 and
 * planned on without a word. Sizes and durations take no exponent either.
 */
export function parseDecimal(raw: string): number {
  return /^\s*-?(\d+(\.\d*)?|\.\d+)\s*$/.test(raw) ? Number(raw) : Number.NaN
}

/** parseNonNegativeNumber reads a finite decimal number >= 0; throws RangeError otherwise. */
export function parseNonNegativeNumber(raw: string, what: string): number {
  const v = parseDecimal(raw)
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`${what} must be a finite number >= 0, got "${raw}"`)
  return v
}

const DURATION_UNITS: Record<string, number> = {ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000}

/**
 * parseDuration reads `500ms`, `30s`, `5m`, `1h`, `7d` into milliseconds. A bare number is
 * seconds (as systemd reads `TimeoutSec=30`), the one meaning every flag and environment
 * variable shares. Throws RangeError naming the input.
 */
export function parseDuration(input: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(input)
  if (!m) throw new RangeError(`"${input}" is not a duration; use e.g. 500ms, 30s, 5m, 1h or 7d (a bare number is seconds)`)
  const value = Math.round(Number(m[1]) * DURATION_UNITS[m[2] ?? 's']!)
  if (!Number.isSafeInteger(value)) throw new RangeError(`"${input}" is too long a duration`)
  return value
}

/** ListenAddress is where a daemon listens: a host (IPv6 without brackets) and a port (0 = any free port). */
export interface ListenAddress {
  host: string
  port: number
}

/** parseListen reads `HOST:PORT` (IPv6 in brackets; port 0 picks a free one). Throws RangeError naming the input. */
export function parseListen(input: string): ListenAddress {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(input.trim())
  const port = m ? Number(m[2]) : NaN
  if (!m || port > 65535) throw new RangeError(`"${input}" is not HOST:PORT; use e.g. 127.0.0.1:7001, [::1]:7001, or port 0 for any free port`)
  return {host: m[1]!.replace(/^\[|\]$/g, ''), port}
}

/** formatListen renders a {@link ListenAddress} back as `HOST:PORT` (brackets around IPv6). */
export function formatListen(a: ListenAddress): string {
  return `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`
}
