import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {HASH_SPACE} from '../../src/model/hash.js'
import {formatHlc} from '../../src/model/hlc.js'
import {type Shard} from '../../src/model/shard.js'
import {NodeClient} from '../../src/node/nodeClient.js'
import {MAX_BATCH_BYTES, type NodeRecord} from '../../src/node/protocol.js'
import {encodeRecords} from '../../src/node/recordCodec.js'
import {MAX_VALUE_BYTES} from '../../src/model/recordLimits.js'
import {type StorageEngine} from '../../src/node/storageEngine.js'
import {hintDelivery} from '../../src/router/hintDelivery.js'
import {HINT_DEFAULTS, type HintBatch, type HintEvent, HintQueue, placeHint} from '../../src/router/hintQueue.js'
import {RoutingTable} from '../../src/router/routingTable.js'
import {type InProcessNode, startInProcessNode} from '../support/inProcessNode.js'
import {EditableShardMap, StaticShardMap} from '../support/staticShardMap.js'
import {shardOf} from './fixtures.js'

/*
 * Review of the hinted handoff (commit 1a5b2ae) against a real storage node's HTTP API
 * (in-process NodeHttpApi over loopback, SQLite engine): the hint queue must deliver what a
 * replica missed, whatever the records' sizes and even when one of them is refused.
 */

const TOKEN = 'review-hint-token-0123456789'
// Long enough that a 40 MiB delivery on a loaded machine (over 5 s in CI) is not refused as older than the grace.
const GRACE_MS = 30_000
const EPOCH = 3

let node: InProcessNode
let engine: StorageEngine
let client: NodeClient

beforeAll(async () => {
  // The node ('me') is the only voter of shard 0, the whole hash space, at EPOCH.
  node = await startInProcessNode({map: new StaticShardMap('me', [{id: 0, range: {lo: 0, hi: HASH_SPACE}, epoch: EPOCH, replicas: [{node: 'me', role: 'voter'}]}]), token: TOKEN, tombstoneGraceMs: GRACE_MS, timeoutMs: 5000, dirPrefix: 'shardctl-hint-review-'})
  ;({engine, client} = node)
})

afterAll(() => node.close())

/** queueToNode is the router's hint queue (routerService.ts routerHints: same defaults, the same hintDelivery) aimed at the in-process node. */
function queueToNode(initialBackoffMs: number = HINT_DEFAULTS.initialBackoffMs, maxAgeMs: number = HINT_DEFAULTS.maxAgeMs): {q: HintQueue; events: Record<string, number>; batches: HintBatch[]} {
  const events: Record<string, number> = {}
  const batches: HintBatch[] = []
  const deliver = hintDelivery({node: (id) => (id === 'me' ? client : undefined), timeoutMs: 5000})
  const q = new HintQueue({
    ...HINT_DEFAULTS,
    maxAgeMs,
    initialBackoffMs,
    place: () => ({shard: 0, epoch: EPOCH}),
    deliver: (b) => (batches.push(b), deliver(b)),
    refresh: () => {},
    now: Date.now,
    startTimer: (fn, ms) => {
      const t = setTimeout(fn, ms)
      return () => clearTimeout(t)
    },
    onEvent: (e: HintEvent, n: number) => (events[e] = (events[e] ?? 0) + n),
  })
  return {q, events, batches}
}

const version = (wall: number) => formatHlc({wall, counter: 0, writer: 'r1'})

describe('hinted handoff against a real node', {timeout: 60_000}, () => {
  it('delivers hints of large values: a delivery never exceeds the node request body limit', async () => {
    // A replica missed 40 writes of 1 MiB values (it was frozen past the router's node
    // timeout): 40 MiB of hints, within the queue's 64 MiB bound. The node refuses any apply
    // body over MAX_BATCH_BYTES (32 MiB) with TOO_LARGE, which the queue retries as transient:
    // a batch cut only by record count (256) is refused at every retry until it expires, and
    // the replica never gets any of the 40 writes.
    // (The first delivery waits 500 ms, so that all 40 are pending by then however slowly this
    // test adds them on a loaded machine: one batch is what a router builds at once.)
    // (20 s age bound: the 40 MiB must commit on a loaded machine; the oversize batch fails within it anyway.)
    const {q, events, batches} = queueToNode(500, 20_000)
    const now = Date.now()
    const records: NodeRecord[] = []
    for (let i = 0; i < 40; i++) records.push({key: Buffer.from(`big-${i}`), version: version(now + i), value: Buffer.alloc(MAX_VALUE_BYTES, i)})
    for (const record of records) expect(q.add({shard: 0, epoch: EPOCH, node: 'me', record})).toBe(true)
    await q.idle()
    for (const b of batches) expect(encodeRecords(b.records).length).toBeLessThanOrEqual(MAX_BATCH_BYTES)
    expect(events).toEqual({queued: 40, delivered: 40})
    for (const r of records) expect(engine.get(r.key)?.version).toBe(r.version)
  })

  it('one record the node refuses (older than its tombstone grace) does not take the rest of its batch with it', async () => {
    // A node frozen longer than its --tombstone-grace: the oldest hint is now refused
    // (PRECONDITION: older than clock - grace), which the queue takes as final. The node
    // refuses the whole apply, so every other hint of the same batch — writes well inside
    // the grace — would be dropped as `rejected` with it, and the replica would stay stale.
    const {q, events} = queueToNode(500, 3000)
    const now = Date.now()
    const old: NodeRecord = {key: Buffer.from('old-0'), version: version(now - 2 * GRACE_MS), value: Buffer.from('old')}
    const fresh: NodeRecord[] = []
    for (let i = 0; i < 10; i++) fresh.push({key: Buffer.from(`fresh-${i}`), version: version(now + i), value: Buffer.from(`v${i}`)})
    q.add({shard: 0, epoch: EPOCH, node: 'me', record: old})
    for (const record of fresh) q.add({shard: 0, epoch: EPOCH, node: 'me', record})
    await q.idle()
    for (const r of fresh) expect(engine.get(r.key)?.version).toBe(r.version)
    expect(engine.get(old.key)).toBeUndefined()
    expect(events).toEqual({queued: 11, delivered: 10, rejected: 1})
  })

})

describe('hint queue memory bound', () => {
  /** queueOnFakeClock: a queue whose timers never fire (nothing is delivered), to look at what it keeps. */
  function queueOnFakeClock(maxBytes: number) {
    const events: Record<string, number> = {}
    const q = new HintQueue({
      ...HINT_DEFAULTS,
      capacity: 100,
      maxBytes,
      place: () => ({shard: 0, epoch: EPOCH}),
      deliver: async () => 'delivered',
      refresh: () => {},
      now: () => 0,
      startTimer: () => () => {},
      onEvent: (e: HintEvent, n: number) => (events[e] = (events[e] ?? 0) + n),
    })
    return {q, events}
  }

  it('a newer version replacing a pending hint cannot grow the pending bytes past maxBytes', () => {
    // A replica is down; clients write many keys with small values (hints queued well within
    // the byte bound), then overwrite each with a large value. Each overwrite replaced its
    // key's pending hint without any byte check, so the queue grew to capacity × 1 MiB
    // (10 GiB at the router's defaults) instead of its 64 MiB bound.
    const {q, events} = queueOnFakeClock(4 * MAX_VALUE_BYTES)
    for (let i = 0; i < 100; i++) expect(q.add({shard: 0, epoch: EPOCH, node: 'n2', record: {key: Buffer.from(`k${i}`), version: version(1000), value: Buffer.from('small')}})).toBe(true)
    let kept = 0
    for (let i = 0; i < 100; i++) if (q.add({shard: 0, epoch: EPOCH, node: 'n2', record: {key: Buffer.from(`k${i}`), version: version(2000), value: Buffer.alloc(MAX_VALUE_BYTES)}})) kept++
    // At most 4 of the 1 MiB versions fit in 4 MiB (less the small hints still pending).
    expect(kept).toBeLessThanOrEqual(4)
    expect(events.dropped ?? 0).toBeGreaterThanOrEqual(96)
  })
})

describe('hinted handoff to a node the shard moved away from (real node API, router map lagging)', {timeout: 60_000}, () => {
  const at = (epoch: number, spec: string): Shard => shardOf(0, spec, {epoch})

  let mNode: InProcessNode
  let mEngine: StorageEngine
  let mClient: NodeClient
  // The node's own map ('local', what its follower has applied) and etcd's, edited by the test.
  const nodeMap = new EditableShardMap()

  beforeAll(async () => {
    mNode = await startInProcessNode({map: nodeMap, token: TOKEN, tombstoneGraceMs: 3_600_000, timeoutMs: 5000, dirPrefix: 'shardctl-hint-move-'})
    ;({engine: mEngine, client: mClient} = mNode)
  })

  afterAll(() => mNode.close())

  /** routerQueue: the router's queue wiring (placeHint on the router's table, refresh re-reads etcd's shard into it). */
  function routerQueue(routerTable: {t: RoutingTable}) {
    const events: Record<string, number> = {}
    const sent: number[] = []
    const deliver = hintDelivery({node: (id) => (id === 'me' ? mClient : undefined), timeoutMs: 5000})
    const q = new HintQueue({
      ...HINT_DEFAULTS,
      initialBackoffMs: 5,
      maxBackoffMs: 20,
      maxAgeMs: 5000,
      place: (node, key) => placeHint(routerTable.t, node, key),
      deliver: (b) => (sent.push(b.epoch), deliver(b)),
      refresh: (id) => {
        const s = nodeMap.etcd.get(id)
        if (s) routerTable.t = RoutingTable.of([s])
      },
      now: Date.now,
      startTimer: (fn, ms) => {
        const t = setTimeout(fn, ms)
        return () => clearTimeout(t)
      },
      onEvent: (e: HintEvent, n: number) => (events[e] = (events[e] ?? 0) + n),
    })
    return {q, events, sent}
  }

  for (const [name, etcdNow] of [
    ['release (E+3: the node is leaving)', at(7, 'a b d me:leaving')],
    ['cleanup (E+4: the node is removed, its range dropped)', at(8, 'a b d')],
  ] as const) {
    it(`a hint re-placed on a router map that still says outgoing is fenced and dropped as obsolete after ${name}`, async () => {
      // The node missed a write while it was a voter; the move then cut over (E+2: it is
      // outgoing) and went on in etcd; the node's own map followed (the executor's barrier),
      // the router's has not yet. The hint goes at the router's E+2, the node refuses it
      // (STALE_EPOCH), the router re-reads the shard and the hint becomes obsolete: no row
      // lands on the node.
      nodeMap.etcd.set(0, etcdNow)
      nodeMap.local.set(0, etcdNow)
      const routerTable = {t: RoutingTable.of([at(6, 'a b d me:outgoing')])}
      const {q, events, sent} = routerQueue(routerTable)
      const key = Buffer.from(`moved-${etcdNow.epoch}`)
      q.add({shard: 0, epoch: 5, node: 'me', record: {key, version: version(Date.now()), value: Buffer.from('x')}})
      await q.idle()
      expect(sent).toEqual([6])
      expect(events).toEqual({queued: 1, obsolete: 1})
      expect(mEngine.get(key)).toBeUndefined()
    })
  }
})
