import {describe, expect, it} from 'vitest'
import {HybridClock} from '../../src/model/hlc.js'
import {type Shard} from '../../src/model/shard.js'
import {type RequestOptions} from '../../src/node/nodeClient.js'
import {type ApplyKind, type NodeRecord} from '../../src/node/protocol.js'
import {ApplyBatcher} from '../../src/router/applyBatcher.js'
import {Coordinator, type NodeDataApi} from '../../src/router/coordinator.js'
import {RoutingTable} from '../../src/router/routingTable.js'
import {checkHistory} from '../chaos/checker.js'
import {type FinalRead, type HistoryOp} from '../chaos/history.js'
import {FakeNode} from './fakeNode.js'
import {shardOf} from './fixtures.js'

function rng(seed: number): () => number {
  let s = seed
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
}

/** hops yields to the event loop a random number of turns: requests overtake each other. */
async function hops(rand: () => number, max: number): Promise<void> {
  const n = Math.floor(rand() * max)
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r))
}

/** SlowLink delays a request on its way to the node and its answer on the way back, by random turns. */
class SlowLink implements NodeDataApi {
  constructor(
    private readonly node: FakeNode,
    private readonly rand: () => number,
  ) {}

  async get(shard: number, epoch: number, key: Buffer) {
    await hops(this.rand, 4)
    const r = await this.node.get(shard, epoch, key)
    await hops(this.rand, 4)
    return r
  }

  async apply(shard: number, epoch: number, records: readonly NodeRecord[], kind?: ApplyKind, _opts?: RequestOptions) {
    await hops(this.rand, 4)
    const r = await this.node.apply(shard, epoch, records, kind)
    await hops(this.rand, 4)
    return r
  }
}

const now = () => performance.now()

/**
 * A Jepsen-style model check of the router protocol on in-memory replicas: several routers
 * with clocks seconds apart, each with its own group-commit batchers, concurrent clients on
 * a few shared keys (writes, deletes, reads), random replica outages and epoch changes that
 * nodes learn one by one (STALE_EPOCH retries re-sending versions), and request and answer
 * delays that reorder everything. The history is judged by the chaos checker (versions and
 * real-time order on this process's clock).
 */
async function run(seed: number, opts: {skews: number[]; ops: number; workers: number; keys: number}) {
  const rand = rng(seed)
  const ids = ['a', 'b', 'c']
  const nodes = new Map(ids.map((id) => [id, new FakeNode(id)]))
  const etcd = {shard: shardOf(0, 'a b c') as Shard}
  const routers = opts.skews.map((skew, i) => {
    let view = etcd.shard
    const batchers = new Map(ids.map((id) => [id, new ApplyBatcher(new SlowLink(nodes.get(id)!, rand), {maxRecords: 64, maxBytes: 1 << 20})]))
    return new Coordinator({
      map: {
        table: () => RoutingTable.of([view]),
        refresh: async () => {
          await hops(rand, 3)
          view = etcd.shard
        },
      },
      node: (id) => batchers.get(id),
      clock: new HybridClock(`router${i}`, () => Math.floor(Date.now()) + skew),
      now: Date.now,
      options: {quorum: {}, nodeTimeoutMs: 1000, requestTimeoutMs: 5000, staleRetries: 5},
    })
  })
  const ops: HistoryOp[] = []
  let nextId = 0
  let done = false
  const worker = async (w: number) => {
    while (nextId < opts.ops) {
      const id = nextId++
      const key = `k${Math.floor(rand() * opts.keys)}`
      const r = Math.floor(rand() * routers.length)
      const p = rand()
      const kind = p < 0.45 ? 'read' : 'write'
      const value = kind === 'write' && p < 0.6 ? null : `w${w}-op${id}`
      const op: HistoryOp = {id, worker: w, key, kind, value: kind === 'read' ? null : value, invoke: now(), complete: 0, outcome: 'unknown', status: 0, version: null, router: `router${r}`}
      try {
        if (kind === 'read') {
          const res = await routers[r]!.read(Buffer.from(key))
          op.outcome = 'ok'
          op.status = res.record?.value ? 200 : 404
          op.value = res.record?.value?.toString() ?? null
          op.version = res.record?.version ?? null
        } else {
          const res = await routers[r]!.write(Buffer.from(key), value === null ? null : Buffer.from(value))
          op.outcome = 'ok'
          op.status = 204
          op.version = res.version
        }
      } catch {
        op.outcome = kind === 'read' ? 'fail' : 'unknown'
        op.status = 503
      }
      op.complete = now()
      ops.push(op)
      await hops(rand, 3)
    }
  }
  const faults = async () => {
    while (!done) {
      await hops(rand, 20)
      const f = rand()
      if (f < 0.4) {
        for (const n of nodes.values()) n.down = false
        if (rand() < 0.7) nodes.get(ids[Math.floor(rand() * ids.length)]!)!.down = true
      } else if (f < 0.6) {
        // A new epoch: etcd first, then the nodes one by one (routers learn on STALE_EPOCH).
        const epoch = etcd.shard.epoch + 1
        etcd.shard = {...etcd.shard, epoch}
        for (const id of [...ids].sort(() => rand() - 0.5)) {
          await hops(rand, 6)
          nodes.get(id)!.epoch = epoch
        }
      }
    }
  }
  const f = faults()
  await Promise.all(Array.from({length: opts.workers}, (_, w) => worker(w)))
  done = true
  await f
  for (const n of nodes.values()) {
    n.down = false
    n.epoch = etcd.shard.epoch
  }
  // Final reads ask every replica (r = 3), so they do not depend on read repair.
  const finalReader = new Coordinator({
    map: {table: () => RoutingTable.of([etcd.shard]), refresh: async () => {}},
    node: (id) => nodes.get(id),
    clock: new HybridClock('final', Date.now),
    now: Date.now,
    options: {quorum: {r: 3}, nodeTimeoutMs: 1000, requestTimeoutMs: 5000, staleRetries: 1},
  })
  const finals = new Map<string, FinalRead>()
  for (let i = 0; i < opts.keys; i++) {
    const res = await finalReader.read(Buffer.from(`k${i}`))
    finals.set(`k${i}`, {status: res.record?.value ? 200 : 404, value: res.record?.value?.toString() ?? null, version: res.record?.version ?? null})
  }
  return {report: checkHistory(ops, finals), ops}
}

describe('router protocol under a randomized Jepsen-style model check', {timeout: 60_000}, () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`seed ${seed}: no lost, stale or phantom operation with routers 2 s apart, outages and epoch changes`, async () => {
      const {report} = await run(seed, {skews: [0, 2000, -1500], ops: 600, workers: 8, keys: 3})
      expect(report.writesAcked).toBeGreaterThan(50)
      expect(report.readsOk).toBeGreaterThan(50)
      expect([...report.lostWrites, ...report.staleReads, ...report.phantomReads].map((a) => a.detail)).toEqual([])
    })
  }
})
