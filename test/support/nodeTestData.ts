import {keyHash} from '../../src/model/hash.js'
import {formatHlc} from '../../src/model/hlc.js'
import {type Shard} from '../../src/model/shard.js'
import {isNodeRequestError} from '../../src/node/nodeRequestError.js'
import {type NodeRecord} from '../../src/node/protocol.js'

/** keyIn returns the first key `${prefix}${i}` whose hash lies in [lo, hi). */
export function keyIn(lo: number, hi: number, prefix: string): Buffer {
  for (let i = 0; i < 100_000; i++) {
    const k = Buffer.from(`${prefix}${i}`)
    if (keyHash(k) >= lo && keyHash(k) < hi) return k
  }
  throw new Error(`no key with prefix ${prefix} hashes into [${lo}, ${hi})`)
}

/** minuteAgo is a version a minute in the past, `n` ms on: older than any write a test makes now. */
const minuteAgo = (n: number): string => formatHlc({wall: Date.now() - 60_000 + n, counter: 0, writer: 't'})

/** recordsIn returns `n` records of `size` value bytes whose keys (`${prefix}-${i}`) hash into `shard`'s range. */
export function recordsIn(shard: Shard, prefix: string, n: number, size: number): NodeRecord[] {
  const out: NodeRecord[] = []
  for (let i = 0; out.length < n; i++) {
    const key = Buffer.from(`${prefix}-${i}`)
    const h = keyHash(key)
    if (h >= shard.range.lo && h < shard.range.hi) out.push({key, version: minuteAgo(out.length), value: Buffer.alloc(size, i & 0xff)})
  }
  return out
}

/** codeOf settles `p` to 'ok' or the NodeRequestError's code (anything else rethrows). */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'ok'
  } catch (err) {
    if (isNodeRequestError(err)) return err.code
    throw err
  }
}
