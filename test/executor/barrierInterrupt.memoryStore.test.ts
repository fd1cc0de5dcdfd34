import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {awaitBarrier} from '../../src/executor/barrier.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEnv, type ExecutorEvent} from '../../src/executor/executorEnv.js'
import {type MoveEffects} from '../../src/executor/moveEffects.js'
import {runMove} from '../../src/executor/moveRunner.js'
import {commitMoveTransition, getMove, readShard, requestCancel, requestRollback} from '../../src/executor/moveStore.js'
import {type MovePhase} from '../../src/model/move.js'
import {type Shard, writeReplicas} from '../../src/model/shard.js'
import {type NodeClient} from '../../src/node/nodeClient.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {TokenBucket} from '../../src/throttle/tokenBucket.js'
import {moveOf} from './fixtures.js'

/**
 * A barrier held by a laggard gives way to `moves cancel` / `moves rollback` (BARRIER_INTERRUPT_MS,
 * session 21). That is safe only because leaving commits nothing and the machine then takes the
 * undo path, whose own barriers are never left: the rollback from release catches the source up
 * only once every router and write replica is on the rb-joining epoch (else a write a lagging
 * router still sends to the new set alone, E+3, lands on the destination after the catch-up read
 * it, and the flip back to the old set loses it), and a rollback removes the destination only
 * once every router writes the old set again.
 *
 * The real runMove and the real awaitBarrier run on the memory store; only the nodes are modelled
 * (each answers `accept` with the epoch it has learned; a laggard keeps its old one) and one router
 * registration on a lease follows the shard map, except while it lags. Time advances only in
 * sleeps: a poll of the barrier is 100 ms, so "left within a second" is a count of polls.
 */

const NODES = ['n1', 'n2', 'n3', 'n4']
/** LAG_POLLS: how long the laggard stays behind after the operator's request (4 s: past several undo steps, well inside the 30 s timeout). */
const LAG_POLLS = 40

type Laggard = {kind: 'router'} | {kind: 'node'; node: 'from' | 'stay'}

interface BarrierRecord {
  phase: MovePhase
  epoch: number
  revision: bigint
  outcome: 'passed' | 'left' | 'timed out'
  polls: number
  /** behind: at the moment it returned, the laggard had not reached this barrier (router revision or node epoch). */
  laggardBehind: boolean
}

/** CANCELLED_AT: the barriers a cancel leaves (before cutover); a rollback leaves the others. */
const CANCELLED_AT: ReadonlySet<string> = new Set(['joining', 'promoting'])

async function scenario(at: 'joining' | 'promoting' | 'cutover' | 'release', laggard: Laggard, killAfterLeave = false) {
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'mem'}, () => new Date(0))
  await initCluster(ctx, {shards: 1, rf: 3, nodes: parseNodeSpecs('n1=127.0.0.1:7101@a,n2=127.0.0.1:7102@b,n3=127.0.0.1:7103@c,n4=127.0.0.1:7104@a'), force: false})
  const lease = await store.grantLease(60)
  for (const id of NODES) await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}), lease.id)
  const shard0 = (await listShards(ctx)).shards[0]!.value
  const from = shard0.replicas[0]!.node
  const stay = shard0.replicas[1]!.node
  const to = NODES.find((n) => !shard0.replicas.some((r) => r.node === n))!
  const lagNode = laggard.kind === 'node' ? (laggard.node === 'from' ? from : stay) : undefined
  const move = moveOf({id: 'mem-0001', shard: shard0.id, from, to, baseEpoch: shard0.epoch, epoch: shard0.epoch})
  await store.put(ctx.keys.move(move.id), JSON.stringify(move))
  const lockKey = ctx.keys.executorLock
  await store.put(lockKey, JSON.stringify({holder: 'test'}))
  const fence = {key: lockKey, createRevision: (await store.get(lockKey))!.createRevision}

  // The data plane as the barrier sees it: node epochs, one router's map revision.
  const nodeEpoch = new Map(NODES.map((n) => [n, shard0.epoch]))
  let routerRevision = 0n
  let lagging = false
  let lagLeft = 0
  const putRouter = async () =>
    store.put(ctx.keys.router('r-slow'), JSON.stringify({id: 'r-slow', address: '127.0.0.1:2', pid: 2, startedAt: 't', updatedAt: 't', mapRevision: String(routerRevision), epochs: {}, p99Ms: null}), lease.id)
  /** follow brings the router (unless it lags) to the current map. */
  const follow = async () => {
    const s = await readShard(ctx, shard0.id)
    if (laggard.kind === 'router' && lagging) return
    if (s && s.modRevision !== routerRevision) {
      routerRevision = s.modRevision
      await putRouter()
    }
  }
  await follow()

  let now = 1_000_000
  let polls = 0
  let turns = 0
  const events: ExecutorEvent[] = []
  const barriers: BarrierRecord[] = []
  const trace: string[] = []
  const client = async (id: string) =>
    ({
      accept: async (_shard: number, epoch: number) => {
        if (!(lagging && id === lagNode)) nodeEpoch.set(id, Math.max(nodeEpoch.get(id)!, epoch))
        return {epoch: nodeEpoch.get(id)!}
      },
    }) as unknown as NodeClient
  /** laggardBehind: the laggard has not reached `shard` at `revision` (a router's map revision, or the epoch of a node among `nodes`). */
  const laggardBehind = (shard: Shard, revision: bigint, nodes: readonly string[]) =>
    laggard.kind === 'router' ? routerRevision < revision : nodes.includes(lagNode!) && nodeEpoch.get(lagNode!)! < shard.epoch
  let requested = false
  /** killed: the executor stops right after leaving the barrier (SIGKILL: nothing more is written); a successor resumes. */
  let killed = false
  const env = {
    ctx,
    fence,
    client,
    throttles: {global: new TokenBucket(null, () => now), node: () => new TokenBucket(null, () => now)},
    control: {paused: false, inWindow: () => true},
    options: DEFAULT_EXECUTOR_OPTIONS,
    now: () => now,
    sleep: async (ms: number) => {
      now += ms
      polls++
      if (lagging && --lagLeft <= 0) lagging = false
      await follow()
    },
    stopped: () => killed || ++turns > 20_000,
    emit: (ev: ExecutorEvent) => events.push(ev),
  } as unknown as ExecutorEnv
  const effects: MoveEffects = {
    barrier: async (shard, revision, nodes, interrupted) => {
      const phase = (await getMove(ctx, move.id)).value.phase
      if (phase === at && !requested) {
        // The laggard falls behind this barrier; the operator's request comes while it waits.
        requested = true
        lagging = true
        lagLeft = LAG_POLLS
        await (CANCELLED_AT.has(at) ? requestCancel(ctx, move.id) : requestRollback(ctx, move.id))
        trace.push(`request at ${phase}`)
      }
      const start = polls
      const rec = (outcome: BarrierRecord['outcome']) => {
        barriers.push({phase, epoch: shard.epoch, revision, outcome, polls: polls - start, laggardBehind: laggardBehind(shard, revision, nodes)})
        trace.push(`barrier ${phase}@${shard.epoch} ${outcome}`)
      }
      try {
        await awaitBarrier(env, shard, revision, nodes, interrupted)
      } catch (err) {
        const outcome = (err as {code?: string}).code === 'CONFLICT' ? 'left' : 'timed out'
        rec(outcome)
        if (outcome === 'left' && killAfterLeave) killed = true
        throw err
      }
      rec('passed')
    },
    copy: async (e, m) => {
      trace.push('copy')
      return commitMoveTransition(e.ctx, e.fence, m, {phase: 'promoting', progress: {...m.value.progress, bytes: 1024, keys: 8}})
    },
    verify: async () => void trace.push('verify'),
    drain: async () => void trace.push('drain'),
    drop: async (node, shard) => {
      trace.push(`drop ${node === to ? 'dst' : node}@${shard.epoch}`)
      return 0
    },
    catchUp: async (_m, epoch) => {
      // What the catch-up relies on: no router still sends writes to the new set alone, no write replica still takes them.
      const s = (await readShard(ctx, shard0.id))!
      trace.push(`catch-up@${epoch}${laggardBehind(s.value, s.modRevision, writeReplicas(s.value)) ? ' (laggard behind)' : ''}`)
    },
    // At the w = 1 an absent write floor counts as, a rollback repairs the voters from the destination's copy before its drop.
    repairFromCopy: async () => 0,
  }
  Object.assign(env, {effects})
  let done = await runMove(env, await getMove(ctx, move.id))
  const resumedAt = killed ? done.value.phase : undefined
  if (killed) {
    killed = false
    trace.push('killed; a successor resumes')
    done = await runMove(env, await getMove(ctx, move.id))
  }
  const final = (await readShard(ctx, shard0.id))!.value
  const phases = events.filter((e): e is Extract<ExecutorEvent, {type: 'phase'}> => e.type === 'phase').map((e) => e.phase)
  const roles = (s: Shard) => s.replicas.map((r) => `${r.node}:${r.role}`).sort()
  return {done: done.value, final: roles(final), initial: roles(shard0), phases, barriers, trace, base: shard0.epoch, resumedAt}
}

const CASES = [
  ['joining', 'aborted', ['aborting', 'aborted']],
  // The promotion's barrier (E+2, the destination joining): a router or a replica may still be at
  // E+1, where writes are acknowledged without the destination. A cancel removes the destination
  // (writes had a quorum of the old set at every epoch), so leaving is safe; verifying is never
  // committed, and nothing is verified, with the laggard behind.
  ['promoting', 'aborted', ['aborting', 'aborted']],
  ['cutover', 'rolledback', ['rb-cutover', 'rolledback']],
  ['release', 'rolledback', ['rb-joining', 'rb-cutover', 'rolledback']],
] as const
const LAGGARDS: [string, Laggard][] = [
  ['a router', {kind: 'router'}],
  ['the staying voter', {kind: 'node', node: 'stay'}],
  ['the source', {kind: 'node', node: 'from'}],
]

describe('a barrier left for an operator request, with the laggard still behind (real runMove and awaitBarrier, memory store)', () => {
  for (const [at, end, undo] of CASES) {
    for (const [who, laggard, kill] of [...LAGGARDS.map(([w, l]) => [w, l, false] as const), ['a router, the executor killed right after leaving it and resumed', {kind: 'router'}, true] as const]) {
      it(`${at} barrier held by ${who}: left within a second, then only the undo path (${undo.join(' → ')}), whose barriers are waited out, never left`, async () => {
        const r = await scenario(at, laggard, kill)
        // Leaving committed nothing: a successor finds the move where the barrier was.
        if (kill) expect(r.resumedAt).toBe(at)
        expect(r.done.phase).toBe(end)
        expect(r.final).toEqual(r.initial)
        // The held barrier was left once, at the first ask after the request, well before its timeout.
        const held = r.barriers.find((b) => b.phase === at && b.outcome !== 'passed')
        expect(held).toMatchObject({outcome: 'left', laggardBehind: true})
        expect(held!.polls).toBeLessThanOrEqual(10)
        // After it, no forward phase: the machine took the undo path at once.
        const after = r.phases.slice(r.phases.lastIndexOf(at) + 1)
        expect(after).toEqual(undo)
        // No other barrier was left or timed out, and none passed with the laggard behind it.
        expect(r.barriers.filter((b) => b !== held && (b.outcome !== 'passed' || b.laggardBehind))).toEqual([])
        // The undo path's barriers waited for the laggard (it lagged LAG_POLLS polls); a cancel needs none.
        const undoBarriers = r.barriers.filter((b) => b.phase.startsWith('rb-'))
        // Cancelled at the promotion's barrier: never verified, never verifying.
        if (at === 'promoting') expect([r.trace.includes('verify'), r.phases.includes('verifying')]).toEqual([false, false])
        if (CANCELLED_AT.has(at)) expect(undoBarriers).toEqual([])
        else expect(undoBarriers.map((b) => b.phase)).toEqual(at === 'release' ? ['rb-joining', 'rb-cutover'] : ['rb-cutover'])
        if (!CANCELLED_AT.has(at)) expect(undoBarriers[0]!.polls).toBeGreaterThan(10)
        // The catch-up ran once, with nobody behind the source's re-join; the destination was
        // dropped only after the old set took every write again (the last barrier passed).
        const catchUps = r.trace.filter((t) => t.startsWith('catch-up'))
        expect(catchUps).toEqual(at === 'release' ? [`catch-up@${r.base + 5}`] : [])
        const lastBarrier = r.trace.map((t) => t.startsWith('barrier')).lastIndexOf(true)
        const dropDst = r.trace.findIndex((t) => t.startsWith('drop dst') && r.trace.indexOf('request at ' + at) < r.trace.indexOf(t))
        expect(dropDst).toBeGreaterThan(lastBarrier)
      })
    }
  }
})
