import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {syncReplicas} from '../../../src/executor/replicaSync.js'
import {keyHash} from '../../../src/model/hash.js'
import {formatHlc} from '../../../src/model/hlc.js'
import {type Shard} from '../../../src/model/shard.js'
import {NodeClient} from '../../../src/node/nodeClient.js'
import {type DigestResponse, type NodeRecord} from '../../../src/node/protocol.js'
import {startTwoNodeCluster, type TwoNodeCluster} from '../node/twoNodeCluster.js'

/**
 * syncReplicas (a move's verify, a rollback's catch-up) on two real node processes, with
 * n1 as the source and n2 as a destination whose copy missed records or left older
 * versions, while dual writes are in flight: every look at the digests sees writes that
 * reached n1 and not yet n2, in the very buckets that hold what the copy missed, so those
 * buckets' digests move between looks on both sides. A sync that took such a bucket for a
 * write in flight would leave the destination without acknowledged records.
 */

let cluster: TwoNodeCluster
let shard: Shard

const T0 = Date.now() - 60_000
let writes = 0
/** fresh is a client write's version now: newer than anything the copy saw. */
const fresh = () => formatHlc({wall: Date.now(), counter: writes++ % 1000, writer: 'test'})

/**
 * InFlight is a stream of dual writes that reach n1 one look before n2: before each digest n1
 * answers, one fresh write per target bucket lands on n1; n2 gets each batch just before its
 * next digest, so every look catches a batch in flight.
 */
class InFlight {
  readonly batches: NodeRecord[][] = []
  delivered = 0

  constructor(private readonly keysByBucket: ReadonlyMap<number, Buffer[]>) {}

  next(): NodeRecord[] {
    const look = this.batches.length
    const batch = [...this.keysByBucket.values()].map((keys) => ({key: keys[look % keys.length]!, version: fresh(), value: Buffer.from(`look-${look}`)}))
    this.batches.push(batch)
    return batch
  }

  /** due hands the batches n2 has not had but the newest (still in flight); `all` also the newest. */
  due(all = false): NodeRecord[] {
    const upTo = all ? this.batches.length : this.batches.length - 1
    const out = this.batches.slice(this.delivered, upTo).flat()
    this.delivered = Math.max(this.delivered, upTo)
    return out
  }
}

function client(id: 'n1' | 'n2'): NodeClient {
  return cluster.client(id)
}

/** keysIn returns `n` keys with `prefix` that hash into `s`. */
function keysIn(s: Shard, prefix: string, n: number): Buffer[] {
  const out: Buffer[] = []
  for (let i = 0; out.length < n && i < 1_000_000; i++) {
    const key = Buffer.from(`${prefix}-${i}`)
    const h = keyHash(key)
    if (h >= s.range.lo && h < s.range.hi) out.push(key)
  }
  return out
}

const bucketOf = (d: DigestResponse, key: Buffer) => d.bounds.findIndex((lo, i) => keyHash(key) >= lo && keyHash(key) < (d.bounds[i + 1] ?? 0))

beforeAll(async () => {
  cluster = await startTwoNodeCluster(inject('etcdEndpoint'), 'replicasync')
  shard = cluster.shard
})

afterAll(async () => {
  await cluster?.close()
})

describe('syncReplicas on node processes while dual writes are in flight', () => {
  it('given a destination that lacks records or holds older versions, in buckets whose digests writes in flight move in every look, when synced once, then it holds every source record, and once the writes land the replicas are equal', async () => {
    const src = client('n1')
    const dst = client('n2')
    const [copied, missed, stale] = [keysIn(shard, 'copied', 300), keysIn(shard, 'missed', 30), keysIn(shard, 'stale', 15)]
    const source: NodeRecord[] = [...copied, ...missed, ...stale].map((key, i) => ({key, version: formatHlc({wall: T0 + 1000 + i, counter: 0, writer: 'test'}), value: Buffer.from(`v${i}`)}))
    await src.apply(shard.id, shard.epoch, source, 'write')
    await dst.apply(shard.id, shard.epoch, source.slice(0, copied.length), 'write')
    await dst.apply(shard.id, shard.epoch, stale.map((key, i) => ({key, version: formatHlc({wall: T0 + i, counter: 0, writer: 'test'}), value: Buffer.from(`old${i}`)})), 'write')

    // Fresh keys in exactly the buckets that hold what the copy missed: the writes in flight.
    const layout = await src.digest(shard.id, shard.epoch)
    const targets = new Set([...missed, ...stale].map((k) => bucketOf(layout, k)))
    const keysByBucket = new Map<number, Buffer[]>()
    for (const key of keysIn(shard, 'flight', 40_000)) {
      const b = bucketOf(layout, key)
      if (targets.has(b)) keysByBucket.set(b, [...(keysByBucket.get(b) ?? []), key])
    }
    expect(keysByBucket.size).toBe(targets.size)
    const inFlight = new InFlight(keysByBucket)
    const epoch = shard.epoch
    // Promise.all asks the source first, so each look's batch is made before the destination is asked.
    const leading = Object.assign(Object.create(src) as NodeClient, {
      digest: async (...args: Parameters<NodeClient['digest']>) => {
        await src.apply(shard.id, epoch, inFlight.next(), 'write')
        return src.digest(...args)
      },
    })
    const trailing = Object.assign(Object.create(dst) as NodeClient, {
      digest: async (...args: Parameters<NodeClient['digest']>) => {
        const due = inFlight.due()
        if (due.length) await dst.apply(shard.id, epoch, due, 'write')
        return dst.digest(...args)
      },
    })

    const res = await syncReplicas(leading, trailing, shard.id, epoch, Date.now() - 30_000)
    // Several looks, each with a batch in flight in every target bucket.
    expect(inFlight.batches.length).toBeGreaterThanOrEqual(3)
    expect(res.equal).toBe(false)
    const held = await Promise.all([...missed, ...stale].map(async (key) => (await dst.get(shard.id, epoch, key)).record?.version))
    expect(held).toEqual(source.slice(copied.length).map((r) => r.version))

    // The writes in flight land; then nothing is left to repair.
    await dst.apply(shard.id, epoch, inFlight.due(true), 'write')
    expect(await syncReplicas(src, dst, shard.id, epoch, Date.now() - 30_000)).toMatchObject({equal: true, repaired: 0})
  })
})
