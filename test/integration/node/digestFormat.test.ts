import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {syncReplicas} from '../../../src/executor/replicaSync.js'
import {keyHash} from '../../../src/model/hash.js'
import {formatHlc} from '../../../src/model/hlc.js'
import {type Shard} from '../../../src/model/shard.js'
import {NodeClient} from '../../../src/node/nodeClient.js'
import {isNodeRequestError} from '../../../src/node/nodeRequestError.js'
import {type DigestResponse, type NodeRecord, TOKEN_HEADER} from '../../../src/node/protocol.js'
import {INLINE_VALUE_MAX, RECORD_HASH_FORMAT} from '../../../src/node/recordHash.js'
import {differingBuckets} from '../../../src/repair/repairPlan.js'
import {startTwoNodeCluster, type TwoNodeCluster} from './twoNodeCluster.js'

/**
 * Digest formats across two real node processes: what a rolling upgrade from the build
 * that hashed records at format 2 (and neither sent nor read a format) to this one needs.
 */

/**
 * LegacyDigestClient talks to a node as a requester sees a node of the older build: that
 * build ignores the `format` it is asked for, answers at format 2 and sends no `format`.
 * The node behind it is this build, asked at 2 (what it computes from rows), so the
 * buckets are the older build's.
 */
class LegacyDigestClient extends NodeClient {
  override async digest(shard: number, epoch: number, opts: Parameters<NodeClient['digest']>[2] = {}): Promise<DigestResponse> {
    const {format: _asked, ...rest} = await super.digest(shard, epoch, {...opts, format: 2})
    return rest
  }
}

let cluster: TwoNodeCluster
let shard: Shard

const T0 = Date.now() - 60_000
const ver = (n: number) => formatHlc({wall: T0 + n, counter: 0, writer: 'test'})

function client(id: 'n1' | 'n2', Kind: typeof NodeClient = NodeClient): NodeClient {
  return cluster.client(id, Kind)
}

/** recordsIn makes `n` records (bounded search) hashing into `s`: small and large values (both sides of INLINE_VALUE_MAX), empty values and tombstones. */
function recordsIn(s: Shard, prefix: string, n: number): NodeRecord[] {
  const out: NodeRecord[] = []
  for (let i = 0; out.length < n && i < 200_000; i++) {
    const key = Buffer.from(`${prefix}-${i}`)
    const h = keyHash(key)
    if (h < s.range.lo || h >= s.range.hi) continue
    const kind = out.length % 4
    const value = kind === 0 ? null : kind === 1 ? Buffer.alloc(0) : Buffer.alloc(kind === 2 ? 100 : INLINE_VALUE_MAX + 1 + out.length * 37, out.length & 0xff)
    out.push({key, version: ver(10 + out.length), value})
  }
  return out
}

async function refusal(p: Promise<unknown>): Promise<{code: string; message: string}> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!isNodeRequestError(err)) throw new Error(`expected a NodeRequestError, got ${String(err)}`)
  return {code: err.code, message: err.message}
}

beforeAll(async () => {
  cluster = await startTwoNodeCluster(inject('etcdEndpoint'), 'digestfmt')
  shard = cluster.shard
})

afterAll(async () => {
  await cluster?.close()
})

describe('record hash formats across node processes', () => {
  it('given two replicas with the same records, when digested at format 3, at 2, and with no format, then each answer names its format, replicas agree at each, and the two formats differ', async () => {
    const a = client('n1')
    const b = client('n2')
    const records = recordsIn(shard, 'same', 200)
    await Promise.all([a.apply(shard.id, shard.epoch, records, 'write'), b.apply(shard.id, shard.epoch, records, 'write')])
    const [a3, b3] = await Promise.all([a.digest(shard.id, shard.epoch), b.digest(shard.id, shard.epoch)])
    expect(a3.format).toBe(RECORD_HASH_FORMAT)
    expect(differingBuckets([a3, b3])).toEqual([])
    const [a2, b2] = await Promise.all([a.digest(shard.id, shard.epoch, {format: 2}), b.digest(shard.id, shard.epoch, {format: 2})])
    expect(a2.format).toBe(2)
    expect(differingBuckets([a2, b2])).toEqual([])
    expect(a2.counts).toEqual(a3.counts)
    // Exactly the buckets holding a value longer than INLINE_VALUE_MAX differ between the formats
    // (shorter ones and tombstones hash alike): comparing across formats would repair those for nothing.
    const bucketOf = (key: Buffer) => a3.bounds.findIndex((lo, i) => keyHash(key) >= lo && keyHash(key) < (a3.bounds[i + 1] ?? 0))
    const summarized = new Set(records.filter((r) => (r.value?.length ?? 0) > INLINE_VALUE_MAX).map((r) => bucketOf(r.key)))
    expect(summarized.size).toBeGreaterThan(1)
    expect(a3.buckets.map((x, i) => (x !== a2.buckets[i] ? i : -1)).filter((i) => i >= 0)).toEqual([...summarized].sort((x, y) => x - y))
    expect(() => differingBuckets([a3, b2])).toThrow(/record hash formats 3 and 2/)
    // A requester of the older build sends no format: it is answered at 2, which it compares with its peers.
    const res = await fetch(`http://127.0.0.1:${cluster.ports.n1}/v1/shards/${shard.id}/digest?epoch=${shard.epoch}`, {headers: {[TOKEN_HEADER]: cluster.token}})
    const legacy = (await res.json()) as DigestResponse
    expect(legacy.format).toBe(2)
    expect(legacy.buckets).toEqual(a2.buckets)
  })

  it('given a format this build cannot compute, when asked, then the node refuses with BAD_INPUT in one line naming the formats it does', async () => {
    const a = client('n1')
    const before = await a.digest(shard.id, shard.epoch)
    const err = await refusal(a.digest(shard.id, shard.epoch, {format: 9}))
    expect(err.code).toBe('BAD_INPUT')
    expect(err.message).toMatch(/record hash format 9 is not one this node computes \(2 or 3\)/)
    expect(err.message).not.toContain('\n')
    expect(await a.digest(shard.id, shard.epoch)).toEqual(before)
  })

  it('given one replica that answers like the older build, when the executor syncs them, then they agree on format 2, repair what one lacks, and compare equal at both formats afterwards', async () => {
    const a = client('n1')
    const oldB = client('n2', LegacyDigestClient)
    const b = client('n2')
    const onlyOnA = recordsIn(shard, 'only-a', 6)
    const onlyOnB = recordsIn(shard, 'only-b', 6)
    await a.apply(shard.id, shard.epoch, onlyOnA, 'write')
    await b.apply(shard.id, shard.epoch, onlyOnB, 'write')
    const first = await syncReplicas(a, oldB, shard.id, shard.epoch, 0)
    expect(first.equal).toBe(false)
    expect(first.repaired).toBe(onlyOnA.length + onlyOnB.length)
    // The repair was exact: the next sync finds nothing, at the older format and at this build's.
    expect(await syncReplicas(a, oldB, shard.id, shard.epoch, 0)).toMatchObject({equal: true, repaired: 0})
    expect(await syncReplicas(a, b, shard.id, shard.epoch, 0)).toMatchObject({equal: true, repaired: 0})
    const [a3, b3] = await Promise.all([a.digest(shard.id, shard.epoch), b.digest(shard.id, shard.epoch)])
    expect(a3.buckets).toEqual(b3.buckets)
  })

  it('given replicas that differ only in a large value under one version, when synced at either format, then the difference is found (the value takes part at both)', async () => {
    const a = client('n1')
    const b = client('n2')
    const oldB = client('n2', LegacyDigestClient)
    const [rec] = recordsIn(shard, 'value-only', 4).slice(3)
    if (!rec?.value) throw new Error('expected a large value record')
    const other = Buffer.from(rec.value)
    other[other.length >> 1] = (other[other.length >> 1]! ^ 0x01) & 0xff
    await a.apply(shard.id, shard.epoch, [rec], 'write')
    await b.apply(shard.id, shard.epoch, [{...rec, value: other}], 'write')
    const [a3, b3] = await Promise.all([a.digest(shard.id, shard.epoch), b.digest(shard.id, shard.epoch)])
    expect(differingBuckets([a3, b3])).toHaveLength(1)
    const [a2, b2] = await Promise.all([a.digest(shard.id, shard.epoch, {format: 2}), oldB.digest(shard.id, shard.epoch)])
    expect(differingBuckets([a2, {...b2, format: 2}])).toHaveLength(1)
  })
})
