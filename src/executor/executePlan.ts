import {getControl, listNodes, listShards} from '../cluster/clusterRepo.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {UserError, errorMessage} from '../errors/errors.js'
import {acquireLock, type HeldLock} from '../etcd/leaseLock.js'
import {isTerminal, type Move, type MovePhase} from '../model/move.js'
import {EPOCH_STEPS, type Plan} from '../model/plan.js'
import {loadClusterToken} from '../node/clusterToken.js'
import {NodeClients} from '../node/nodeClients.js'
import {AimdThrottle, type AimdOptions} from './adaptiveThrottle.js'
import {type ExecutorEnv, type ExecutorEvent, type ExecutorOptions, type LiveControl} from './executorEnv.js'
import {listMoves, type FencedMove, LockLostError} from './moveStore.js'
import {NodeDirectory} from './nodeDirectory.js'
import {moveRunnerFor, type MoveRunnerFn} from './engineMoveRunner.js'
import {type RedisMoveOptions} from '../redis/redisMoveRunner.js'
import {checkPlanIntegrity, preflightPlan, type Preflight} from './planPreflight.js'
import {type ConcurrencyLimits, pickStartable} from './scheduler.js'
import {applySplit} from './splitShard.js'
import {TokenBucket} from './tokenBucket.js'
import {RouterRecordSchema} from '../router/routerRegistration.js'
import {inWindow, type MaintenanceWindow} from './window.js'

/** ApplyInput configures one `apply` run. */
export interface ApplyInput {
  /** plan to run; undefined with `resume` continues every unfinished move in etcd. */
  plan?: Plan
  limits: ConcurrencyLimits
  /** throttle is the global copy rate (bytes/s); null = unlimited. The `control` key overrides it live. */
  throttle: number | null
  /** adaptive, when set, drives the global rate by AIMD on the routers' reported client p99 (`--throttle auto`). */
  adaptive?: AimdOptions
  nodeThrottle: number | null
  window?: MaintenanceWindow
  options: ExecutorOptions
  /** confirm is asked after the preflight; returning false stops before anything changes. */
  confirm: (p: Preflight | undefined) => Promise<boolean>
  holder: string
  /** redis tunes slot migration when the cluster's engine is redis (ignored by kv). */
  redis?: Partial<RedisMoveOptions>
}

/** ApplyResult summarises a run (its --json output). */
export interface ApplyResult {
  plan: string | null
  moves: {id: string; shard: number; from: string; to: string; phase: MovePhase; reason: string | null; bytes: number}[]
  splits: {shard: number; status: string; reason?: string}[]
  counts: Partial<Record<MovePhase, number>>
  bytesCopied: number
  durationMs: number
  stopped: boolean
}

/** ApplyDeps are the injected side effects: clock and sleep (tests control time). */
export interface ApplyDeps {
  now: () => number
  sleep: (ms: number, signal: AbortSignal) => Promise<void>
  emit: (ev: ExecutorEvent) => void
}

/**
 * executePlan runs a plan's actions under the cluster's executor lock: verifies the plan's
 * hash, shows the preflight (stale actions are skipped with a reason), asks for
 * confirmation, records every move in etcd (so another process can resume them), applies
 * splits, then runs moves as concurrently as the limits allow, following pause, throttle
 * and cancel requests from etcd within a second. With `resume` and no plan it continues
 * unfinished moves. Throws LOCK_HELD (naming the holder) when another executor runs.
 * Stops cleanly on `signal`; every move resumes from its persisted phase next time.
 */
export async function executePlan(ctx: ServiceContext, input: ApplyInput, deps: ApplyDeps, signal: AbortSignal): Promise<ApplyResult> {
  const started = deps.now()
  let preflight: Preflight | undefined
  if (input.plan) {
    checkPlanIntegrity(input.plan, ctx.cluster)
    const [{shards}, nodes] = await Promise.all([listShards(ctx), listNodes(ctx)])
    preflight = preflightPlan(input.plan, shards.map((s) => s.value), new Set(nodes.map((n) => n.value.id)), EPOCH_STEPS)
  }
  const lock = await acquireLock(ctx.store, ctx.keys.executorLock, input.holder)
  const stop = new AbortController()
  const onAbort = () => stop.abort()
  signal.addEventListener('abort', onAbort)
  lock.lease.onLost(() => {
    deps.emit({type: 'info', message: 'executor lease lost: stopping', at: new Date(deps.now()).toISOString()})
    stop.abort()
  })
  const clients = new NodeClients({token: await loadClusterToken(ctx, {create: false}).catch(() => ''), timeoutMs: 10_000})
  try {
    const existing = await listMoves(ctx)
    const planMoves = input.plan ? existing.filter((m) => m.value.plan === input.plan!.id) : []
    const alreadyRecorded = planMoves.length > 0
    if (!(await input.confirm(alreadyRecorded ? undefined : preflight))) {
      return summarise(input.plan?.id ?? null, [], [], started, deps.now(), true)
    }
    const splits = input.plan && !alreadyRecorded ? await runSplits(ctx, lock, input.plan, preflight!, deps) : []
    if (input.plan && !alreadyRecorded) await recordMoves(ctx, lock, input.plan, preflight!, deps.now())
    const all = await listMoves(ctx)
    const mine = all.filter((m) => (input.plan ? m.value.plan === input.plan.id : true) && !isTerminal(m.value.phase))
    if (input.plan === undefined && mine.length === 0) deps.emit({type: 'info', message: 'nothing to resume: every recorded move has finished', at: new Date(deps.now()).toISOString()})
    const final = await runAll(ctx, lock, mine, input, deps, clients, stop.signal, await moveRunnerFor(ctx, input.redis))
    const ids = new Set(mine.map((m) => m.value.id))
    const report = (await listMoves(ctx)).filter((m) => ids.has(m.value.id) || (input.plan && m.value.plan === input.plan.id))
    return summarise(input.plan?.id ?? null, report.map((m) => final.get(m.value.id) ?? m.value), splits, started, deps.now(), stop.signal.aborted)
  } finally {
    signal.removeEventListener('abort', onAbort)
    await clients.close()
    await lock.release()
  }
}

async function runSplits(ctx: ServiceContext, lock: HeldLock, plan: Plan, preflight: Preflight, deps: ApplyDeps): Promise<ApplyResult['splits']> {
  const out: ApplyResult['splits'] = []
  for (const v of preflight.verdicts) {
    if (v.action.kind !== 'split') continue
    if (!v.ok) {
      out.push({shard: v.action.shard, status: 'skipped', reason: v.reason})
      continue
    }
    const r = await applySplit(ctx, lock.fence, v.action)
    out.push({shard: v.action.shard, ...r})
    deps.emit({type: 'info', message: `split shard ${v.action.shard} at ${v.action.at}: ${r.status}${'reason' in r ? ` (${r.reason})` : ''}`, at: new Date(deps.now()).toISOString()})
  }
  return out
}

/** recordMoves creates a `moves/<plan>-<index>` record per move action (stale ones as skipped), fenced on the lock. */
async function recordMoves(ctx: ServiceContext, lock: HeldLock, plan: Plan, preflight: Preflight, now: number): Promise<void> {
  const at = new Date(now).toISOString()
  const puts = preflight.verdicts.flatMap((v) => {
    if (v.action.kind !== 'move') return []
    const a = v.action
    const move: Move = {
      id: `${plan.id}-${String(v.index).padStart(4, '0')}`,
      plan: plan.id,
      index: v.index,
      shard: a.shard,
      from: a.from,
      to: a.to,
      baseEpoch: a.epoch,
      epoch: a.epoch,
      phase: v.ok ? 'pending' : 'skipped',
      progress: {bytes: 0, keys: 0, totalBytes: a.bytes, rateBytesPerSec: 0, cursor: null, stalled: false},
      cancelRequested: false,
      rollbackRequested: false,
      reason: v.ok ? null : (v.reason ?? 'stale'),
      attempts: 0,
      createdAt: at,
      updatedAt: at,
      cutoverAt: null,
      copyStartedAt: null,
    }
    return [{key: ctx.keys.move(move.id), value: JSON.stringify(move)}]
  })
  for (let i = 0; i < puts.length; i += 100) {
    const batch = puts.slice(i, i + 100)
    const rev = await ctx.store.commit({compares: [lock.fence, ...batch.map((p) => ({key: p.key, createRevision: 0n}))], puts: batch})
    if (rev === undefined) throw new UserError('CONFLICT', `moves of plan ${plan.id} were recorded concurrently`, 'run `shardctl apply --resume`')
  }
}

async function runAll(ctx: ServiceContext, lock: HeldLock, moves: FencedMove[], input: ApplyInput, deps: ApplyDeps, clients: NodeClients, signal: AbortSignal, runMove: MoveRunnerFn): Promise<Map<string, Move>> {
  const latest = new Map<string, Move>(moves.map((m) => [m.value.id, m.value]))
  const fenced = new Map(moves.map((m) => [m.value.id, m]))
  const running = new Map<string, Promise<void>>()
  const reread = new Set<string>()
  const nodeBuckets = new Map<string, TokenBucket>()
  const control: LiveControl = {paused: false, inWindow: () => (input.window ? inWindow(input.window, new Date(deps.now())) : true)}
  const aimd = input.adaptive ? new AimdThrottle(input.adaptive) : undefined
  const globalBucket = new TokenBucket(aimd ? aimd.current() : input.throttle, deps.now)
  let lastAdapt = deps.now()
  const directory = new NodeDirectory(async () => new Map((await listNodes(ctx)).map((n) => [n.value.id, n.value.address])), deps.now)
  let fatal: unknown
  const env: ExecutorEnv = {
    ctx,
    fence: lock.fence,
    async client(id) {
      return clients.client({id, address: await directory.address(id)})
    },
    throttles: {
      global: globalBucket,
      node(id) {
        let b = nodeBuckets.get(id)
        if (!b) nodeBuckets.set(id, (b = new TokenBucket(input.nodeThrottle, deps.now)))
        return b
      },
    },
    control,
    options: input.options,
    now: deps.now,
    sleep: (ms) => deps.sleep(ms, signal),
    runningMoves: () => running.size,
    stopped: () => signal.aborted || fatal !== undefined,
    emit: deps.emit,
  }

  // Follow the operator's control record (pause, throttle) within a second.
  const followControl = async () => {
    const c = await getControl(ctx).catch(() => undefined)
    if (!c) return
    if (c.paused !== control.paused) deps.emit({type: 'info', message: c.paused ? 'paused by operator' : 'resumed by operator', at: new Date(deps.now()).toISOString()})
    control.paused = c.paused
    let rate = c.throttleBytesPerSec ?? input.throttle
    if (c.throttleBytesPerSec === null && aimd) {
      // Adaptive: once a second, feed the routers' worst client p99 to AIMD.
      rate = aimd.current()
      if (deps.now() - lastAdapt >= 1000) {
        lastAdapt = deps.now()
        const p99 = await worstRouterP99(ctx)
        const before = aimd.current()
        rate = aimd.observe(p99)
        if (Math.abs(rate - before) / before > 0.2) deps.emit({type: 'info', message: `adaptive throttle: routers' p99 ${p99 === null ? 'unknown' : `${p99.toFixed(1)} ms`} → copy rate ${Math.round(rate / 1024)} KiB/s`, at: new Date(deps.now()).toISOString()})
      }
    }
    if (rate !== globalBucket.currentRate()) {
      const quiet = aimd !== undefined && c.throttleBytesPerSec === null
      globalBucket.setRate(rate)
      if (!quiet) deps.emit({type: 'info', message: `throttle now ${rate === null ? 'unlimited' : `${rate} B/s`}`, at: new Date(deps.now()).toISOString()})
    }
  }
  await followControl()

  while (!env.stopped()) {
    const pending = [...latest.values()].filter((m) => !isTerminal(m.phase))
    if (pending.length === 0 && running.size === 0) break
    const canStart = !control.paused && control.inWindow()
    const startable = canStart ? pickStartable([...latest.values()], new Set(running.keys()), input.limits) : []
    for (const m of startable) {
      const fm = fenced.get(m.id)!
      const p = runMove(env, fm)
        .then((done) => {
          latest.set(done.value.id, done.value)
          fenced.set(done.value.id, done)
        })
        .catch((err: unknown) => {
          if (err instanceof LockLostError) fatal = err
          else {
            reread.add(m.id)
            deps.emit({type: 'retry', move: m.id, what: 'run', error: errorMessage(err), at: new Date(deps.now()).toISOString()})
          }
        })
        .finally(() => running.delete(m.id))
      running.set(m.id, p)
    }
    // Moves already running keep their own pace; in-progress (resumed) moves with
    // phases past pending are started like any other: runMove continues from their phase.
    await deps.sleep(500, signal)
    await followControl()
    // A runner that ended unexpectedly (not terminal) is re-read so the scheduler sees its real phase.
    if (reread.size > 0) {
      const all = await listMoves(ctx).catch(() => undefined)
      if (all) {
        for (const fm of all) if (reread.has(fm.value.id) && !running.has(fm.value.id)) {
          latest.set(fm.value.id, fm.value)
          fenced.set(fm.value.id, fm)
        }
        reread.clear()
      }
    }
  }
  await Promise.all(running.values())
  if (fatal) throw fatal
  return latest
}

/** worstRouterP99 is the highest client p99 (ms) any live router reports; null when none reports one. */
async function worstRouterP99(ctx: ServiceContext): Promise<number | null> {
  const {items} = await ctx.store.list(ctx.keys.routersPrefix).catch(() => ({items: []}))
  let worst: number | null = null
  for (const kv of items) {
    try {
      const r = RouterRecordSchema.safeParse(JSON.parse(kv.value))
      if (r.success && r.data.p99Ms !== null) worst = Math.max(worst ?? 0, r.data.p99Ms)
    } catch {
      // a malformed router entry says nothing about latency
    }
  }
  return worst
}

function summarise(plan: string | null, moves: Move[], splits: ApplyResult['splits'], started: number, now: number, stopped: boolean): ApplyResult {
  const counts: Partial<Record<MovePhase, number>> = {}
  for (const m of moves) counts[m.phase] = (counts[m.phase] ?? 0) + 1
  return {
    plan,
    moves: moves.map((m) => ({id: m.id, shard: m.shard, from: m.from, to: m.to, phase: m.phase, reason: m.reason, bytes: m.progress.bytes})),
    splits,
    counts,
    bytesCopied: moves.reduce((a, m) => a + m.progress.bytes, 0),
    durationMs: now - started,
    stopped,
  }
}
