import {MAX_KEY_BYTES} from './recordLimits.js'

/**
 * kvKeyProblem (pure) says what makes `key` one no replica will store (empty, or longer
 * than {@link MAX_KEY_BYTES} in UTF-8), or undefined when it is storable. The CLI refuses
 * such a key in its own words before anything is sent: the router's refusal is in HTTP
 * terms, and `shard locate` would otherwise place a key that can never be written.
 */
export function kvKeyProblem(key: string): string | undefined {
  if (key.length === 0) return 'the key is empty'
  const bytes = Buffer.byteLength(key, 'utf8')
  if (bytes > MAX_KEY_BYTES) return `the key is ${bytes} bytes long in UTF-8; keys are at most ${MAX_KEY_BYTES} bytes`
  return undefined
}

/** KV_KEY_RULE is the fix both refusals name. */
export const KV_KEY_RULE = `give a non-empty key of at most ${MAX_KEY_BYTES} bytes (UTF-8)`
