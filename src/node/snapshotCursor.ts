import {HASH_SPACE} from '../model/hash.js'
import {MAX_KEY_BYTES} from '../model/recordLimits.js'

/**
 * encodeCursor makes the opaque snapshot cursor "resume after (hash, key)": the hash in
 * decimal, a dot, the key in base64url. Stable across node restarts (it names a position
 * in the (hash, key) order, not a server-side iterator), so a copy can resume anywhere.
 */
export function encodeCursor(hash: number, key: Uint8Array): string {
  return `${hash}.${Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('base64url')}`
}

/** decodeCursor parses {@link encodeCursor}'s output. Throws RangeError for anything else. */
export function decodeCursor(cursor: string): {hash: number; key: Buffer} {
  const m = /^(\d{1,10})\.([A-Za-z0-9_-]*)$/.exec(cursor)
  const hash = m ? Number(m[1]) : NaN
  if (!m || hash >= HASH_SPACE) throw new RangeError('malformed snapshot cursor')
  const key = Buffer.from(m[2]!, 'base64url')
  if (key.length > MAX_KEY_BYTES) throw new RangeError('malformed snapshot cursor')
  return {hash, key}
}
