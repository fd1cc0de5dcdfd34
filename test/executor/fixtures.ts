import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../src/cluster/serviceContext.js'
import {type Compare} from '../../src/etcd/etcdStore.js'
import {type ApplyDeps, type ApplyInput, type ApplyResult, executePlan} from '../../src/executor/executePlan.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEnv, type ExecutorEvent} from '../../src/executor/executorEnv.js'
import {type MoveEffects, nodeMoveEffects} from '../../src/executor/moveEffects.js'
import {commitMoveTransition} from '../../src/executor/moveStore.js'
import {type Move} from '../../src/model/move.js'
import {type Shard} from '../../src/model/shard.js'
import {type NodeClient} from '../../src/node/nodeClient.js'
import {type DigestResponse} from '../../src/node/protocol.js'
import {RECORD_HASH_FORMAT} from '../../src/node/recordHash.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {TokenBucket} from '../../src/throttle/tokenBucket.js'

/**
 * storedMoveUnderLock stores `move` and takes the executor lock as holder "test": the fence a runMove test's env carries
 * (its commits compare the lock's create revision).
 */
export async function storedMoveUnderLock(ctx: ServiceContext, move: Move): Promise<ExecutorEnv['fence']> {
  await ctx.store.put(ctx.keys.move(move.id), JSON.stringify(move))
  await ctx.store.put(ctx.keys.executorLock, JSON.stringify({holder: 'test'}))
  return {key: ctx.keys.executorLock, createRevision: (await ctx.store.get(ctx.keys.executorLock))!.createRevision}
}

/**
 * sleepBoundedEnv is `base` with `fence`, its sleeps advancing `clock`, and stopped once it slept `maxSleeps` times: a
 * runMove test that ends in a wait returns instead of sleeping for ever.
 */
export function sleepBoundedEnv(base: ExecutorEnv, clock: FakeClock, fence: ExecutorEnv['fence'], maxSleeps: number): ExecutorEnv {
  let sleeps = 0
  return {
    ...base,
    fence,
    sleep: async (ms) => {
      clock.now += ms
      sleeps++
    },
    stopped: () => sleeps >= maxSleeps,
  }
}

/** shardOf builds a stable shard with voters on `nodes`. */
export function shardOf(id: number, nodes: string[], epoch = 5): Shard {
  return {id, range: {lo: id * 100, hi: id * 100 + 100}, epoch, replicas: nodes.map((node) => ({node, role: 'voter' as const}))}
}

/** moveOf builds a pending move record. */
export function moveOf(over: Partial<Move> & Pick<Move, 'shard' | 'from' | 'to'>): Move {
  return {
    id: `p-${over.index ?? 0}`,
    plan: 'p',
    index: 0,
    baseEpoch: 5,
    epoch: 5,
    phase: 'pending',
    progress: {bytes: 0, keys: 0, totalBytes: 0, rateBytesPerSec: 0, dataRateBytesPerSec: 0, cursor: null, stalled: false},
    cancelRequested: false,
    rollbackRequested: false,
    reason: null,
    attempts: 0,
    createdAt: 't',
    updatedAt: 't',
    cutoverAt: null,
    copyStartedAt: null,
    ...over,
  }
}

/**
 * copyOnlyEffects: move effects that touch no node. The copy only records the move's step to
 * `promoting`, as the real copy's end does (on the memory store or real etcd), so a run exercises the executor's records,
 * fencing, lock and map transitions alone.
 */
export const copyOnlyEffects: MoveEffects = {barrier: async () => {}, copy: async (env, m) => commitMoveTransition(env.ctx, env.fence, m, {phase: 'promoting'}), verify: async () => {}, drain: async () => {}, drop: async () => 0, catchUp: async () => {}, repairFromCopy: async () => 0}

/** markNodesAlive writes an alive key for each node (no process behind it), as the executor's preflight asks of a move's nodes. */
export async function markNodesAlive(ctx: ServiceContext, ids: readonly string[]): Promise<void> {
  for (const id of ids) await ctx.store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
}

/** CopyingCluster is a memory-store cluster whose moves are all at their copy step, the executor lock held: where a test of copyShard begins. */
export interface CopyingCluster {
  store: MemoryStore
  ctx: ServiceContext
  /** fence is the executor lock's, as a running executor holds it. */
  fence: Compare
  /** moves are the recorded moves, one a shard in shard order. */
  moves: Move[]
}

/**
 * copyingCluster creates, on a new memory store whose clock is `now`: nodes n1 to n`nodes`
 * (zones a, b, c, ... in turn), all marked alive; `shards` shards of rf 1; one move a shard,
 * `m<i>`, from its replica to the first other node, in phase `copying` (of a shard of
 * `totalBytes` when given); and the executor lock, held by `test`.
 */
export async function copyingCluster(now: () => number, layout: {cluster: string; nodes: number; shards: number; totalBytes?: number}): Promise<CopyingCluster> {
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: layout.cluster}, () => new Date(now()))
  const ids = Array.from({length: layout.nodes}, (_, i) => `n${i + 1}`)
  await initCluster(ctx, {shards: layout.shards, rf: 1, nodes: parseNodeSpecs(ids.map((id, i) => `${id}=127.0.0.1:${7101 + i}@${String.fromCharCode(97 + (i % 26))}`).join(',')), force: false})
  await markNodesAlive(ctx, ids)
  const moves: Move[] = []
  for (const [i, s] of (await listShards(ctx)).shards.entries()) {
    const from = s.value.replicas[0]!.node
    const to = ids.find((n) => n !== from)!
    const move = moveOf({id: `m${i}`, index: i, shard: s.value.id, from, to, baseEpoch: s.value.epoch, epoch: s.value.epoch, phase: 'copying'})
    if (layout.totalBytes !== undefined) move.progress = {...move.progress, totalBytes: layout.totalBytes}
    await store.put(ctx.keys.move(move.id), JSON.stringify(move))
    moves.push(move)
  }
  await store.put(ctx.keys.executorLock, JSON.stringify({holder: 'test'}))
  const fence = {key: ctx.keys.executorLock, createRevision: (await store.get(ctx.keys.executorLock))!.createRevision}
  return {store, ctx, fence, moves}
}

/** FakeClock is a test's clock in ms; fakeClockDeps' sleep moves it on instead of waiting. */
export interface FakeClock {
  now: number
}

/** fakeClock starts a FakeClock at `start` (an arbitrary epoch ms, far from 0 so a `Date` of it reads as a time). */
export function fakeClock(start = 1_000_000): FakeClock {
  return {now: start}
}

/**
 * fakeClockDeps are the clock deps of an executor run in fake time: `now` reads `clock`, and
 * `sleep(ms)` advances it by ms at once, then runs `onSleep` (a test's hook: a guard that
 * stops a runaway run, a report written as time passes, a yield to real I/O).
 */
export function fakeClockDeps(clock: FakeClock, onSleep?: () => void | Promise<void>): Pick<ApplyDeps, 'now' | 'sleep'> & Pick<ExecutorEnv, 'now' | 'sleep'> {
  return {
    now: () => clock.now,
    sleep: async (ms) => {
      clock.now += ms
      // Await only a hook's promise: a sleep then settles as soon as a bare `now += ms` one did.
      const hooked = onSleep?.()
      if (hooked) await hooked
    },
  }
}

/**
 * fakeClockEnv is the part of an ExecutorEnv a memory-store test of one move's steps (runMove,
 * copyShard) sets the same way: no throttle (buckets on `clock`), not paused and always inside
 * the window, default options, and fakeClockDeps' `now` and `sleep`.
 */
export function fakeClockEnv(clock: FakeClock): Pick<ExecutorEnv, 'throttles' | 'control' | 'options' | 'now' | 'sleep'> {
  return {
    throttles: {global: new TokenBucket(null, () => clock.now), node: () => new TokenBucket(null, () => clock.now)},
    control: {paused: false, inWindow: () => true},
    options: DEFAULT_EXECUTOR_OPTIONS,
    ...fakeClockDeps(clock),
  }
}

/**
 * FakeClockApplyRun is what a fake-clock apply sets: `limits`, and whatever of ApplyInput differs
 * from the tests' usual run (no throttle, confirmed, holder `test`, default options), the node
 * effects (default copyOnlyEffects), events (default: dropped), the stop signal and onSleep.
 */
export type FakeClockApplyRun = Partial<ApplyInput> &
  Pick<ApplyInput, 'limits'> & {
    effects?: MoveEffects
    emit?: (ev: ExecutorEvent) => void
    signal?: AbortSignal
    onSleep?: () => void | Promise<void>
  }

/** fakeClockApply runs executePlan on `ctx` in fake time on `clock` (see fakeClockDeps and FakeClockApplyRun). */
export function fakeClockApply(ctx: ServiceContext, clock: FakeClock, run: FakeClockApplyRun): Promise<ApplyResult> {
  const {effects = copyOnlyEffects, emit = () => {}, signal = new AbortController().signal, onSleep, ...input} = run
  const applyInput: ApplyInput = {throttle: null, nodeThrottle: null, options: DEFAULT_EXECUTOR_OPTIONS, confirm: async () => true, holder: 'test', ...input}
  return executePlan(ctx, applyInput, {...fakeClockDeps(clock, onSleep), emit, effects}, signal)
}

/** SourceDownWorld is {@link sourceDownWorld}'s result: the move's effects, the nodes whose digests were asked for, and the roles. */
export interface SourceDownWorld {
  effects: MoveEffects
  move: Move
  shard: Shard
  asked: string[]
  /** applied: the nodes repair records were applied to. */
  applied: string[]
  from: string
  to: string
  others: string[]
  store: MemoryStore
  ctx: ServiceContext
  clock: FakeClock
  /** env: the effects' env (its fence names no lock: a runMove test holds one and sets its own). */
  env: ExecutorEnv
}

/**
 * sourceDownWorld is one shard at `rf` on a memory store, moved from its first replica to a
 * spare node and reshaped by `at` (the shard as the phase under test sees it: promoted, or
 * cut over), with the nodes `opts.alive` names marked alive and routers registered at the
 * `opts.routerW` quorums; every node answers digests with an empty range and is recorded in
 * `asked`. For the effects' choice of replicas when the source is down (verification, the
 * refill of a restarted destination).
 */
export async function sourceDownWorld(
  rf: number,
  phase: Move['phase'],
  at: (initial: Shard, from: string, to: string) => Shard,
  opts: {alive: (roles: {from: string; to: string; others: string[]}) => string[]; routerW?: (number | null)[]},
): Promise<SourceDownWorld> {
  const store = new MemoryStore()
  const clock = fakeClock()
  const ctx = makeServiceContext(store, {cluster: 'source-down'}, () => new Date(clock.now))
  const nodes = ['n1', 'n2', 'n3', 'n4'].slice(0, rf + 1)
  await initCluster(ctx, {shards: 1, rf, nodes: parseNodeSpecs(nodes.map((n, i) => `${n}=127.0.0.1:${7101 + i}@z${i}`).join(',')), force: false})
  const initial = (await listShards(ctx)).shards[0]!.value
  const from = initial.replicas[0]!.node
  const to = nodes.find((n) => !initial.replicas.some((r) => r.node === n))!
  const shard = at(initial, from, to)
  await store.put(ctx.keys.shard(shard.id), JSON.stringify(shard))
  const others = initial.replicas.map((r) => r.node).filter((n) => n !== from)
  await markNodesAlive(ctx, opts.alive({from, to, others}))
  for (const [i, w] of (opts.routerW ?? []).entries()) {
    await store.put(`${ctx.keys.routersPrefix}r${i}`, JSON.stringify({id: `r${i}`, address: '127.0.0.1:1', pid: 1, startedAt: 't', updatedAt: 't', mapRevision: '1', epochs: {}, p99Ms: null, w}))
  }
  const asked: string[] = []
  const applied: string[] = []
  const client = (node: string) =>
    ({
      digest: async (_shard: number, epoch: number, o: {tombstonesBefore?: number; format?: number}): Promise<DigestResponse> => {
        asked.push(node)
        return {shard: shard.id, epoch, range: shard.range, bounds: [shard.range.lo, shard.range.hi], buckets: ['0'.repeat(16)], counts: [0], tombstonesBefore: o.tombstonesBefore, format: o.format ?? RECORD_HASH_FORMAT}
      },
      apply: async () => {
        applied.push(node)
        return {}
      },
    }) as unknown as NodeClient
  const env: ExecutorEnv = {ctx, fence: {key: 'lock', createRevision: 1n}, client: async (node) => client(node), ...fakeClockEnv(clock), stopped: () => false, emit: () => {}}
  const move: Move = moveOf({shard: shard.id, from, to, baseEpoch: initial.epoch, epoch: shard.epoch, phase})
  return {effects: nodeMoveEffects(env, async (_e, m) => m), move, shard, asked, applied, from, to, others, store, ctx, clock, env}
}
