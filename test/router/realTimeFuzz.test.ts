import {describe, expect, it} from 'vitest'
import {HybridClock} from '../../src/model/hlc.js'
import {mergeRecord} from '../../src/node/lwwMerge.js'
import {type Shard} from '../../src/model/shard.js'
import {type RequestOptions} from '../../src/node/nodeClient.js'
import {type ApplyKind, type NodeRecord} from '../../src/node/protocol.js'
import {ApplyBatcher} from '../../src/router/applyBatcher.js'
import {Coordinator, type NodeDataApi} from '../../src/router/coordinator.js'
import {hintDelivery} from '../../src/router/hintDelivery.js'
import {HINT_DEFAULTS, HintQueue, placeHint} from '../../src/router/hintQueue.js'
import {RoutingTable} from '../../src/router/routingTable.js'
import {type QuorumSettings} from '../../src/router/quorum.js'
import {chooseCopySources} from '../../src/executor/copySources.js'
import {floorQuorums, lowerWriteFloor, newWriteFloor} from '../../src/model/writeFloor.js'
import {checkHistory} from '../chaos/checker.js'
import {type FinalRead, type HistoryOp} from '../chaos/history.js'
import {NodeRequestError} from '../../src/node/nodeRequestError.js'
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
    /** drops tells whether this apply is lost on the way (a learner's writer too busy, a timed-out apply). */
    private readonly drops: () => boolean = () => false,
  ) {}

  async get(shard: number, epoch: number, key: Buffer) {
    await hops(this.rand, 4)
    const r = await this.node.get(shard, epoch, key)
    await hops(this.rand, 4)
    return r
  }

  async apply(shard: number, epoch: number, records: readonly NodeRecord[], kind?: ApplyKind, _opts?: RequestOptions) {
    await hops(this.rand, 4)
    if (this.drops()) throw new NodeRequestError('NODE_UNREACHABLE', `node ${this.node.id}: apply timed out`, this.node.id, 0, undefined, {timedOut: true})
    const r = await this.node.apply(shard, epoch, records, kind)
    await hops(this.rand, 4)
    return r
  }
}

const now = () => performance.now()

/**
 * A Jepsen-style model check of the router protocol on in-memory replicas: several routers
 * with clocks seconds apart, each with its own group-commit batchers, concurrent clients on
 * a few shared keys (writes, deletes, reads), read repairs racing re-issues, random replica
 * outages and epoch changes that nodes learn one by one (STALE_EPOCH retries re-sending
 * versions), and request and answer delays that reorder everything. The history is judged by the chaos checker (versions and
 * real-time order on this process's clock).
 */
interface FuzzOptions {
  skews: number[]
  ops: number
  workers: number
  keys: number
  /** rf: 3 (nodes a b c, spare d) or 1 (node a, spare b). */
  rf?: 1 | 3
  /** moves: replace a voter by the spare node (joining, copy, cutover with the source outgoing, done) now and then. */
  moves?: boolean
  /** graceMs: tombstones older than this on arrival (by node a's clock, `nodeAheadMs` ahead, or the others') are expired (stored as nothing), as on a StorageEngine. */
  graceMs?: number
  nodeAheadMs?: number
  /** hints: each router hands the replicas a write round missed to its own hint queue (hinted handoff, re-placed on its view at every delivery), delayed like any request. */
  hints?: boolean
  /**
   * undo: moves also end the other ways the executor has (with `moves: true`): aborted before
   * cutover (the destination removed, then its copy dropped), rolled back from cutover (reads
   * flip straight back to the old set: the source voter again, the destination joining, then
   * removed and dropped) and rolled back after release (the source `leaving` and written no
   * more, clients writing to the new set alone for a while; then rb-joining, the source caught
   * up from the destination, rb-cutover, the destination removed and dropped).
   */
  undo?: boolean
  /**
   * leftBarriers (with `undo`): each undo is decided at the barrier of the step before it while
   * that step's epoch is still reaching the nodes, as when a barrier held by a laggard gives way
   * to `moves cancel` / `moves rollback` (BARRIER_INTERRUPT_MS, src/executor/barrier.ts): the
   * cancel at the joining barrier (no copy yet), the rollback at the cutover barrier and the one
   * at the release barrier start their next epoch at once, some nodes still on the one before.
   * The undo path's own barriers (rb-joining before the catch-up, rb-cutover before the
   * destination leaves) are waited out, as the executor never leaves them.
   */
  leftBarriers?: boolean
  /**
   * learner (with `moves`): the move's destination learns first, as the executor runs a move
   * now (src/executor/moveMachine.ts): `learning` at the move's first epoch (written by the
   * routers but never awaited, counted or hinted), the copy from the source, then promoted to
   * `joining` at the next epoch (joint quorum from there on), that epoch's barrier, and the
   * verification: source and destination compared key by key in three looks, and keys that
   * differed in every look repaired both ways (LWW), as syncReplicas does by digest bucket.
   * Only then the cutover. The learner also drops a share of the writes it is sent (a writer
   * busy with copy slices, a timed-out apply), so verification has something to carry over.
   */
  learner?: boolean
  /**
   * sourceDown (with `learner`, rf 3): the move's source goes down (its lease lapses) and stays
   * down until the move is done, as in a heal or a source that died mid-move: from the end of the
   * copy (`verify`: verification compares the destination with the other old voters instead) or
   * from the learning epoch's barrier (`copy`: the copy merges the other old voters, LWW, and
   * verification compares with them too). Which ones is the executor's own rule
   * (chooseCopySources under the write floor the routers lowered, src/model/writeFloor.ts): with
   * majority routers (w = 2) both others; with a `--w 1` router none, and the move waits for its
   * source (modelled as the source coming back at once). While it is held down, the fault loop
   * now and then takes a second replica down too. `copy-back`: down for the copy only, back up
   * before the promotion, so verification compares with the source alone (liveCopySources with
   * the source alive), which missed whatever was acknowledged while it was down.
   */
  sourceDown?: 'copy' | 'verify' | 'copy-back'
  /**
   * fallbackPeers: which of the other old voters the fallback reads; `all` is what the executor
   * does. `one` breaks the |O \ S| < w rule on purpose (a write quorum, the source and the voter
   * left out, fits outside it): the harness must then find writes a majority read can miss.
   */
  fallbackPeers?: 'all' | 'one'
  /** quorum: every router's `--w` / `--r` (default: majorities). Each lowers the cluster's write floor as it starts. */
  quorum?: QuorumSettings
}

/** UNDO_WAYS: how the moves of a history with `undo` end, in turn. */
const UNDO_WAYS = ['aborted', 'rolled back from cutover', 'rolled back after release', 'done'] as const

/** run drives one seeded history; `log` receives epoch changes and drops (to debug a failing seed next to the history). */
async function run(seed: number, opts: FuzzOptions, log: (line: string) => void = () => {}) {
  const rand = rng(seed)
  const rf = opts.rf ?? 3
  const ids = rf === 3 ? ['a', 'b', 'c', 'd'] : ['a', 'b']
  const nodes = new Map(ids.map((id) => [id, new FakeNode(id)]))
  if (opts.graceMs !== undefined) for (const n of nodes.values()) n.tombstoneCutoff = () => Date.now() + (n.id === 'a' ? (opts.nodeAheadMs ?? 0) : 0) - opts.graceMs!
  const etcd = {shard: shardOf(0, rf === 3 ? 'a b c' : 'a') as Shard}
  /** learners are the destinations still learning: the routers' applies to them are dropped now and then (never awaited, so nothing retries them). */
  const learners = new Set<string>()
  /** heldDown is a move's source kept down (sourceDown) until the move is done: the fault loop leaves it down. */
  let heldDown: string | undefined
  /** floor is the cluster's write floor once every router has started (each lowers it to its --w first). */
  const floor = opts.skews.reduce((f, _, i) => lowerWriteFloor(f, opts.quorum?.w ?? null, `router${i}`, 't') ?? f, newWriteFloor('t'))
  let waitedForSource = 0
  let repairedByVerify = 0
  const queues: HintQueue[] = []
  let hintsDelivered = 0
  const routers = opts.skews.map((skew, i) => {
    let view = etcd.shard
    const batchers = new Map(ids.map((id) => [id, new ApplyBatcher(new SlowLink(nodes.get(id)!, rand, () => learners.has(id) && rand() < 0.4), {maxRecords: 64, maxBytes: 1 << 20})]))
    const hints = opts.hints
      ? new HintQueue({
          ...HINT_DEFAULTS,
          initialBackoffMs: 1,
          maxBackoffMs: 20,
          place: (node, key) => placeHint(RoutingTable.of([view]), node, key),
          deliver: hintDelivery({node: (id) => new SlowLink(nodes.get(id)!, rand), timeoutMs: 1000}),
          refresh: () => void hops(rand, 3).then(() => (view = etcd.shard)),
          now: Date.now,
          startTimer: (fn, ms) => {
            const t = setTimeout(fn, ms)
            return () => clearTimeout(t)
          },
          onEvent: (e, n) => {
            if (e === 'delivered') hintsDelivered += n
          },
        })
      : undefined
    if (hints) queues.push(hints)
    return new Coordinator({
      map: {
        table: () => RoutingTable.of([view]),
        refresh: async () => {
          await hops(rand, 3)
          view = etcd.shard
        },
      },
      node: (id) => batchers.get(id),
      // Read repair races everything else: delayed like any request, at the epoch of the read.
      // (Not with an expiring grace: a repaired tombstone past it deletes what it beats and
      // leaves nothing — the open hole pinned in coordinator.test.ts, issue #10 item 3.)
      repair: (t) => {
        if (opts.graceMs !== undefined) return false
        void new SlowLink(nodes.get(t.node)!, rand).apply(t.shard, t.epoch, [t.record], 'repair').catch(() => {})
        return true
      },
      ...(hints ? {hint: (h: Parameters<HintQueue['add']>[0]) => hints.add(h)} : {}),
      clock: new HybridClock(`router${i}`, () => Math.floor(Date.now()) + skew),
      now: Date.now,
      options: {quorum: opts.quorum ?? {}, nodeTimeoutMs: 1000, requestTimeoutMs: 5000, staleRetries: 5},
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
  /** newEpoch publishes `replicas` at the next epoch: etcd first, then the nodes one by one (routers learn on STALE_EPOCH). */
  let epochChange: Promise<void> = Promise.resolve()
  const newEpoch = (replicas?: Shard['replicas']) => (epochChange = epochChange.then(() => publish(replicas ?? etcd.shard.replicas)))
  const publish = async (replicas: Shard['replicas']) => {
    const epoch = etcd.shard.epoch + 1
    etcd.shard = {...etcd.shard, epoch, replicas}
    log(`${now().toFixed(0)} epoch ${epoch}: ${replicas.map((r) => `${r.node}:${r.role}`).join(' ')}`)
    for (const id of [...ids].sort(() => rand() - 0.5)) {
      await hops(rand, 6)
      // Max: a publish a barrier did not wait for may still be on its way when the next one lands.
      nodes.get(id)!.epoch = Math.max(nodes.get(id)!.epoch, epoch)
    }
  }
  /** leftBehind publishes `replicas` and returns while some nodes have not learned it: its barrier was left. */
  const lingering: Promise<void>[] = []
  const leftBehind = async (replicas: Shard['replicas']) => {
    await epochChange
    lingering.push(publish(replicas))
    await hops(rand, 3)
  }
  const voters = () => etcd.shard.replicas.map((r) => r.node)
  /**
   * verify compares source and destination in three looks, a few turns apart while clients
   * write on, and repairs both ways (LWW) the keys that differed in every look, as
   * syncReplicas does by digest bucket (a bucket equal in one look is never fetched).
   */
  const verify = async (a: FakeNode, b: FakeNode) => {
    const differing = () => {
      const out = new Set<string>()
      for (const k of new Set([...a.records.keys(), ...b.records.keys()])) {
        const x = a.records.get(k)
        const y = b.records.get(k)
        if (!x || !y || x.version !== y.version || x.value?.toString() !== y.value?.toString()) out.add(k)
      }
      return out
    }
    let keys = differing()
    for (let look = 1; look < 3 && keys.size > 0; look++) {
      await hops(rand, 6)
      const again = differing()
      keys = new Set([...keys].filter((k) => again.has(k)))
    }
    for (const k of keys) {
      await hops(rand, 2)
      const x = a.records.get(k)
      const y = b.records.get(k)
      const winner = y ? mergeRecord(x, y) : x!
      // Applied as the executor's repair (kind `repair`: a tombstone past a node's grace deletes
      // what it beats and stores nothing), retried until it lands: an outage does not drop it.
      for (const n of [a, b]) {
        const down = n.down
        n.down = false
        await n.apply(0, n.epoch, [winner], 'repair')
        n.down = down
      }
    }
    repairedByVerify += keys.size
    log(`${now().toFixed(0)} verified: ${keys.size} key(s) repaired`)
  }
  /** move replaces voter `from` by `to` with the executor's phases; the copy reads the source, as the executor does. */
  let moves = 0
  const undone: Record<string, number> = {}
  const move = async (from: string, to: string) => {
    moves++
    const vs = voters()
    // With `undo`, moves take the four ways in turn (so any history of 3 moves or more has every undo).
    const way = opts.undo ? UNDO_WAYS[(moves - 1) % UNDO_WAYS.length]! : 'done'
    const left = opts.leftBarriers === true
    const joining = [...vs.map((node) => ({node, role: 'voter' as const})), {node: to, role: 'joining' as const}]
    const learning = [...vs.map((node) => ({node, role: 'voter' as const})), {node: to, role: 'learning' as const}]
    const source = nodes.get(from)!
    const dest = nodes.get(to)!
    const stay = vs.filter((n) => n !== from).map((node) => ({node, role: 'voter' as const}))
    const old = vs.map((node) => ({node, role: 'voter' as const}))
    /** back ends a move on the old set: the destination removed (every node learns it), then its copy dropped. */
    const back = async (how: string) => {
      await newEpoch(old)
      dest.records.clear()
      undone[how] = (undone[how] ?? 0) + 1
      log(`${now().toFixed(0)} ${how}: ${to} cleared`)
    }
    // A cancel at the joining barrier: the destination leaves before any node need have seen it join.
    if (way === 'aborted' && left && !opts.learner) {
      await leftBehind(joining)
      return back('aborted')
    }
    await newEpoch(opts.learner ? learning : joining)
    if (opts.learner) learners.add(to)
    // The replicas the fallback from a down source reads, as the executor decides (liveCopySources): the source's lease gone, chooseCopySources under
    // the cluster's write floor, which every router lowered to its --w before it started. A
    // `wait` is the move waiting for its source: it comes back, and the source is read.
    const choice = chooseCopySources({shard: 0, from, to, oldSet: vs, alive: new Set(ids.filter((n) => n !== from)), routerW: floorQuorums(floor)})
    const chosen = choice.kind === 'copy' ? choice.sources.map((n) => nodes.get(n)!) : [source]
    const fallback = opts.fallbackPeers === 'one' ? chosen.slice(0, 1) : chosen
    if (opts.sourceDown && choice.kind === 'wait') waitedForSource++
    const holdDown = () => {
      if (choice.kind === 'wait') return
      heldDown = from
      source.down = true
      log(`${now().toFixed(0)} source ${from} down until the move is done`)
    }
    const copyDown = opts.sourceDown === 'copy' || opts.sourceDown === 'copy-back'
    if (copyDown) holdDown()
    for (const copyFrom of copyDown ? fallback : [source]) {
      for (const rec of [...copyFrom.records.values()]) {
        await hops(rand, 2)
        // The executor retries a copy until it lands (or aborts the move): outages do not drop records.
        const k = rec.key.toString('hex')
        dest.records.set(k, mergeRecord(dest.records.get(k), rec))
      }
    }
    if (opts.learner) {
      // A cancel during the copy aborts with the destination still learning; with `leftBarriers`,
      // one at the promotion's barrier (some nodes still at the learning epoch) aborts from there.
      if (way === 'aborted' && !left) {
        learners.delete(to)
        return back('aborted')
      }
      if (way === 'aborted' && left) {
        await leftBehind(joining)
        learners.delete(to)
        return back('aborted')
      }
      await newEpoch(joining) // its barrier: every node knows the destination counts
      learners.delete(to)
      if (opts.sourceDown === 'verify') holdDown()
      if (opts.sourceDown === 'copy-back' && heldDown === from) {
        heldDown = undefined
        source.down = false
        log(`${now().toFixed(0)} source ${from} back up: verification compares with it alone`)
      }
      if (opts.sourceDown && opts.sourceDown !== 'copy-back' && heldDown === from) for (const peer of fallback) await verify(peer, dest)
      else await verify(source, dest)
    }
    if (way === 'aborted') return back('aborted')
    const cutover = [...stay, {node: to, role: 'voter' as const}, {node: from, role: 'outgoing' as const}]
    if (way === 'rolled back from cutover' && left) await leftBehind(cutover)
    else await newEpoch(cutover)
    await hops(rand, 10)
    if (way === 'rolled back from cutover') {
      await newEpoch([...old, {node: to, role: 'joining'}])
      await hops(rand, 10)
      return back('rolled back from cutover')
    }
    if (way === 'rolled back after release') {
      const release = [...stay, {node: to, role: 'voter' as const}, {node: from, role: 'leaving' as const}]
      if (left) await leftBehind(release)
      else await newEpoch(release)
      await hops(rand, 20) // clients write to the new set alone
      await newEpoch([...stay, {node: to, role: 'voter'}, {node: from, role: 'joining'}])
      // The catch-up: the source gets, LWW, what the destination holds (syncReplicas from dst to src).
      for (const rec of [...dest.records.values()]) {
        await hops(rand, 2)
        const k = rec.key.toString('hex')
        source.records.set(k, mergeRecord(source.records.get(k), rec))
      }
      await newEpoch([...old, {node: to, role: 'joining'}])
      await hops(rand, 10)
      return back('rolled back after release')
    }
    await newEpoch([...stay, {node: to, role: 'voter'}])
    if (heldDown === from) heldDown = undefined // back up, holding no role
    source.records.clear() // the source drops its copy once it holds no role
    log(`${now().toFixed(0)} ${from} cleared`)
  }
  const faults = async () => {
    while (!done) {
      await hops(rand, 20)
      const f = rand()
      if (f < 0.4) {
        for (const n of nodes.values()) n.down = n.id === heldDown
        if (rand() < 0.7) nodes.get(ids[Math.floor(rand() * ids.length)]!)!.down = true
        // With a source held down, now and then a second replica too: writes a --w 1 router acknowledged on one replica alone.
        if (opts.sourceDown && rand() < 0.3) nodes.get(ids[Math.floor(rand() * ids.length)]!)!.down = true
      } else if (f < 0.6) {
        await newEpoch()
      }
    }
  }
  const mover = async () => {
    while (opts.moves && !done) {
      await hops(rand, 10)
      const vs = voters()
      const spare = ids.find((id) => !vs.includes(id))!
      await move(vs[Math.floor(rand() * vs.length)]!, spare)
    }
  }
  const f = Promise.all([faults(), mover()])
  await Promise.all(Array.from({length: opts.workers}, (_, w) => worker(w)))
  done = true
  await f
  await Promise.all(lingering)
  // Hints still pending race the end of the faults; let them land (they may, like any late apply).
  for (const n of nodes.values()) n.down = false
  await Promise.all(queues.map((q) => q.idle()))
  for (const n of nodes.values()) {
    n.down = false
    n.epoch = etcd.shard.epoch
    n.tombstoneCutoff = undefined
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
    // rf 1: r = 3 clamps to the one voter.
    const res = await finalReader.read(Buffer.from(`k${i}`))
    finals.set(`k${i}`, {status: res.record?.value ? 200 : 404, value: res.record?.value?.toString() ?? null, version: res.record?.version ?? null})
  }
  const expired = [...nodes.values()].reduce((n, node) => n + node.expiredSeen, 0)
  // Records on a node that holds no role for the shard: written after the move dropped its copy (a late apply past the fence).
  const strays = [...nodes.values()].filter((n) => !etcd.shard.replicas.some((r) => r.node === n.id)).reduce((a, n) => a + n.records.size, 0)
  // The final read above asks every replica, so a write left on fewer than w voters still shows
  // there. A client's read asks a majority (r = 2 of 3), so also judge the final state as each
  // majority of the final voters holds it, without read repair: a write the last move left on
  // one voter only (verification compared the destination with too few replicas) shows up here.
  const finalVoters = etcd.shard.replicas.filter((r) => r.role === 'voter').map((r) => nodes.get(r.node)!)
  const majorityLost = majoritiesOf(finalVoters).flatMap((sub) => {
    const seen = new Map<string, FinalRead>()
    for (let i = 0; i < opts.keys; i++) {
      const k = Buffer.from(`k${i}`).toString('hex')
      const rec = sub.reduce<NodeRecord | undefined>((m, n) => {
        const x = n.records.get(k)
        return x ? mergeRecord(m, x) : m
      }, undefined)
      seen.set(`k${i}`, {status: rec?.value ? 200 : 404, value: rec?.value?.toString() ?? null, version: rec?.version ?? null})
    }
    return checkHistory(ops, seen).lostWrites.map((a) => `read of ${sub.map((n) => n.id).join(', ')}: ${a.detail}`)
  })
  return {report: checkHistory(ops, finals), ops, moves, expired, hintsDelivered, strays, undone, repairedByVerify, majorityLost, waitedForSource}
}

/** majoritiesOf lists every subset of `xs` of majority size (r = 2 of 3; the one voter at rf 1). */
function majoritiesOf<T>(xs: readonly T[]): T[][] {
  const size = Math.floor(xs.length / 2) + 1
  const out: T[][] = []
  const pick = (from: number, acc: T[]) => {
    if (acc.length === size) return void out.push(acc)
    for (let i = from; i < xs.length; i++) pick(i + 1, [...acc, xs[i]!])
  }
  pick(0, [])
  return out
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

  for (const seed of [11, 12, 13, 14]) {
    it(`seed ${seed}: rf 3 with moves (joint quorums, copy from the source, cutover), outages and skew`, async () => {
      const {report, moves} = await run(seed, {skews: [0, 2000, -1500], ops: 600, workers: 8, keys: 3, moves: true})
      expect(report.writesAcked).toBeGreaterThan(50)
      expect(moves).toBeGreaterThan(2)
      expect([...report.lostWrites, ...report.staleReads, ...report.phantomReads].map((a) => a.detail)).toEqual([])
    })
  }

  for (const seed of [21, 22, 23]) {
    it(`seed ${seed}: rf 1 with moves back and forth`, async () => {
      const {report, moves} = await run(seed, {skews: [0, 2000, -1500], ops: 400, workers: 6, keys: 3, moves: true, rf: 1})
      expect(report.writesAcked).toBeGreaterThan(10)
      expect(moves).toBeGreaterThan(2)
      expect([...report.lostWrites, ...report.staleReads, ...report.phantomReads].map((a) => a.detail)).toEqual([])
    })
  }

  for (const seed of [41, 42, 43, 44]) {
    it(`seed ${seed}: with hinted handoff (every router re-sends what a replica missed): no lost, stale or phantom operation, with moves, outages and skew`, async () => {
      const {report, moves, hintsDelivered, strays} = await run(seed, {skews: [0, 2000, -1500], ops: 600, workers: 8, keys: 3, moves: true, hints: true})
      expect(report.writesAcked).toBeGreaterThan(50)
      expect(moves).toBeGreaterThan(2)
      expect(hintsDelivered).toBeGreaterThan(0) // the path under test ran
      expect(strays).toBe(0) // no hint landed on the node a move took the shard from
      expect([...report.lostWrites, ...report.staleReads, ...report.phantomReads].map((a) => a.detail)).toEqual([])
    })
  }

  for (const seed of [51, 52]) {
    it(`seed ${seed}: with hinted handoff at rf 1 with moves back and forth`, async () => {
      const {report, moves, strays} = await run(seed, {skews: [0, 2000, -1500], ops: 800, workers: 6, keys: 3, moves: true, rf: 1, hints: true})
      expect(report.writesAcked).toBeGreaterThan(10)
      expect(moves).toBeGreaterThan(2)
      expect(strays).toBe(0)
      expect([...report.lostWrites, ...report.staleReads, ...report.phantomReads].map((a) => a.detail)).toEqual([])
    })
  }

  for (const [seed, rf] of [[61, 3], [62, 3], [63, 3], [71, 1], [72, 1], [73, 1]] as const) {
    it(`seed ${seed}: rf ${rf} with moves aborted, rolled back from cutover and rolled back after release, hinted handoff, outages and skew`, async () => {
      const {report, moves, strays, undone} = await run(seed, {skews: [0, 2000, -1500], ops: 800, workers: 8, keys: 3, moves: true, undo: true, hints: true, rf})
      expect(report.writesAcked).toBeGreaterThan(10)
      expect(moves).toBeGreaterThan(2)
      // Each way of undoing a move happened in this history.
      expect(Object.keys(undone).sort()).toEqual(['aborted', 'rolled back after release', 'rolled back from cutover'])
      expect(strays).toBe(0)
      expect([...report.lostWrites, ...report.staleReads, ...report.phantomReads].map((a) => a.detail)).toEqual([])
    })
  }

  for (const [seed, rf] of [[81, 3], [82, 3], [83, 3], [91, 1], [92, 1], [93, 1]] as const) {
    it(`seed ${seed}: rf ${rf} with moves cancelled and rolled back at a barrier some nodes had not reached (a held barrier left for the operator), hinted handoff, outages and skew`, async () => {
      const {report, moves, strays, undone} = await run(seed, {skews: [0, 2000, -1500], ops: 800, workers: 8, keys: 3, moves: true, undo: true, leftBarriers: true, hints: true, rf})
      expect(report.writesAcked).toBeGreaterThan(10)
      expect(moves).toBeGreaterThan(2)
      expect(Object.keys(undone).sort()).toEqual(['aborted', 'rolled back after release', 'rolled back from cutover'])
      expect(strays).toBe(0)
      expect([...report.lostWrites, ...report.staleReads, ...report.phantomReads].map((a) => a.detail)).toEqual([])
    })
  }

  // Checked by hand: without the verification, seeds 102, 111, 112 and 114 read stale values
  // (the others then only fail the repairedByVerify count: read repair and hints healed them);
  // with the verification run before the promotion's barrier, seeds 105, 111, 112 and 113 do.
  // Without hints, at rf 3 the voter that missed a write the learner missed too keeps it
  // missing until the cutover: only the verification puts it on w of the new set.
  for (const [seed, rf, undo, left, hints] of [[101, 3, false, false, false], [102, 3, false, false, true], [103, 3, true, false, false], [104, 3, true, true, true], [105, 3, false, false, false], [111, 1, false, false, true], [112, 1, false, false, true], [113, 1, true, false, true], [114, 1, true, true, true]] as const) {
    const how = (undo ? (left ? ', cancelled at the promotion barrier and rolled back at left barriers' : ', cancelled while learning and rolled back') : '') + (hints ? ', hinted handoff' : '')
    it(`seed ${seed}: rf ${rf} with the destination learning (written, not awaited; a share of its writes lost), promoted, verified, then cut over${how}, outages and skew`, async () => {
      const {report, moves, strays, undone, repairedByVerify} = await run(seed, {skews: [0, 2000, -1500], ops: 800, workers: 8, keys: 3, moves: true, learner: true, hints, rf, undo, leftBarriers: left})
      expect(report.writesAcked).toBeGreaterThan(10)
      expect(moves).toBeGreaterThan(2)
      expect([...report.lostWrites, ...report.staleReads, ...report.phantomReads].map((a) => a.detail)).toEqual([])
      expect(repairedByVerify).toBeGreaterThan(0) // verification carried over writes the learner missed
      if (undo) expect(Object.keys(undone).sort()).toEqual(['aborted', 'rolled back after release', 'rolled back from cutover'])
      expect(strays).toBe(0)
    })
  }

  // The fallback from a down source (liveCopySources, with majority routers: w = 2 of 3): the
  // copy and/or the verification read the two other old voters, never fewer (|O \ S| < w).
  // Judged also as each majority of the final voters holds each key (majorityLost).
  for (const [seed, down, hints] of [[121, 'verify', false], [122, 'verify', true], [123, 'verify', false], [124, 'copy', false], [125, 'copy', true], [126, 'copy', false], [127, 'verify', false], [128, 'verify', true], [129, 'copy', false], [130, 'copy', true], [131, 'verify', false], [132, 'copy', false], [133, 'copy-back', false], [134, 'copy-back', true], [135, 'copy-back', false], [136, 'copy-back', false]] as const) {
    const how = down === 'copy' ? 'the learning barrier: copied from' : down === 'verify' ? 'the end of the copy: verified against' : 'the learning barrier to the end of the copy (verified against it alone): copied from'
    it(`seed ${seed}: rf 3, the learner's source down from ${how} the other two old voters${hints ? ', hinted handoff' : ''}, outages and skew`, async () => {
      const {report, moves, strays, repairedByVerify, majorityLost, waitedForSource} = await run(seed, {skews: [0, 2000, -1500], ops: 800, workers: 8, keys: 24, moves: true, learner: true, hints, sourceDown: down})
      expect(waitedForSource).toBe(0) // majority routers only: the fallback ran
      expect(report.writesAcked).toBeGreaterThan(10)
      expect(moves).toBeGreaterThan(2)
      expect([...report.lostWrites, ...report.staleReads, ...report.phantomReads].map((a) => a.detail)).toEqual([])
      expect(majorityLost).toEqual([])
      expect(repairedByVerify).toBeGreaterThan(0)
      expect(strays).toBe(0)
    })
  }

  // The same with --w 1 routers (reads at r = 3, so w + r > rf still): a write may be acknowledged
  // by the source alone, so the floor (w = 1) makes every move wait for its source instead.
  // Judged on versions only: with w + w <= rf two writes' quorums need not meet, so real-time
  // order across routers with skewed clocks is not promised (Coordinator's doc), moves or not.
  for (const [seed, down] of [[141, 'verify'], [142, 'copy'], [143, 'verify'], [144, 'copy']] as const) {
    it(`seed ${seed}: rf 3 with --w 1 --r 3 routers, the learner's source down from ${down === 'copy' ? 'the learning barrier' : 'the end of the copy'}: the move waits for it (the write floor), outages and skew`, async () => {
      const {report, moves, strays, majorityLost, waitedForSource} = await run(seed, {skews: [0, 2000, -1500], ops: 800, workers: 8, keys: 24, moves: true, learner: true, sourceDown: down, quorum: {w: 1, r: 3}})
      const waitedCheck = () => expect(waitedForSource).toBe(moves)
      expect(report.writesAcked).toBeGreaterThan(10)
      expect(moves).toBeGreaterThan(2)
      const byVersion = [...report.lostWrites.filter((a) => a.detail.startsWith('write #')), ...report.staleReads.filter((a) => a.kind === 'stale-read'), ...report.phantomReads]
      expect(byVersion.map((a) => a.detail)).toEqual([])
      expect(strays).toBe(0)
      void majorityLost // r = 3: a majority read is not what clients do here
      waitedCheck()
    })
  }

  for (const seed of [31, 32, 33]) {
    it(`seed ${seed}: node a's clock 1.5 s ahead with a 1 s grace: deletes reach it expired, and are never acknowledged unstored`, async () => {
      const {report, expired} = await run(seed, {skews: [0, 300, -300], ops: 600, workers: 8, keys: 3, graceMs: 1000, nodeAheadMs: 1500})
      expect(report.writesAcked).toBeGreaterThan(50)
      expect(expired).toBeGreaterThan(5) // the fault landed: tombstones did arrive expired
      expect([...report.lostWrites, ...report.staleReads, ...report.phantomReads].map((a) => a.detail)).toEqual([])
    })
  }
})
