import {createHash} from 'node:crypto'

/**
 * canonicalJson serialises a JSON value with object keys sorted at every level and no
 * whitespace, so equal values give byte-identical text (used for hashes and fingerprints).
 * Throws TypeError on values JSON cannot carry (NaN, Infinity, undefined in arrays, bigint).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`cannot serialise ${value} as JSON`)
    return JSON.stringify(value)
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  throw new TypeError(`cannot serialise a ${typeof value} as JSON`)
}

/** sha256Hex returns the lowercase hex SHA-256 of a UTF-8 string. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}
