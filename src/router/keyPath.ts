import {MAX_KEY_BYTES} from '../node/protocol.js'

/** KeyPathResult is a decoded key, or why the path segment is not one. */
export type KeyPathResult = {ok: true; key: Buffer} | {ok: false; code: 'BAD_INPUT' | 'TOO_LARGE'; message: string}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 65 && c <= 70) return c - 55
  if (c >= 97 && c <= 102) return c - 87
  return -1
}

/**
 * decodeKeyPath turns the URL-encoded `{key}` of `/kv/{key}` into the key's bytes.
 * Percent escapes decode to raw bytes (so any binary key round-trips through
 * encodeURIComponent-style encoding of its bytes, not only UTF-8); other characters are
 * taken as UTF-8. `+` is a plus, not a space. Refuses an empty key, a malformed escape
 * (BAD_INPUT) and a key over MAX_KEY_BYTES (TOO_LARGE).
 */
export function decodeKeyPath(segment: string): KeyPathResult {
  if (segment.length === 0) return {ok: false, code: 'BAD_INPUT', message: 'empty key: use /kv/{url-encoded key}'}
  const raw = Buffer.from(segment, 'utf8')
  const out = Buffer.allocUnsafe(raw.length)
  let n = 0
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!
    if (c !== 37) {
      out[n++] = c
      continue
    }
    const hi = i + 2 < raw.length ? hexValue(raw[i + 1]!) : -1
    const lo = i + 2 < raw.length ? hexValue(raw[i + 2]!) : -1
    if (hi < 0 || lo < 0) return {ok: false, code: 'BAD_INPUT', message: `malformed percent escape at offset ${i} of the key`}
    out[n++] = hi * 16 + lo
    i += 2
  }
  if (n > MAX_KEY_BYTES) return {ok: false, code: 'TOO_LARGE', message: `key of ${n} bytes exceeds ${MAX_KEY_BYTES}`}
  return {ok: true, key: Buffer.from(out.subarray(0, n))}
}

/** encodeKeyPath percent-encodes every byte of `key` outside [A-Za-z0-9-._~] (the inverse of {@link decodeKeyPath}). */
export function encodeKeyPath(key: Buffer | string): string {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key
  let s = ''
  for (const b of bytes) {
    const unreserved = (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b === 45 || b === 46 || b === 95 || b === 126
    s += unreserved ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return s
}
