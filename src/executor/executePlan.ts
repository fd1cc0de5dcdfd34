import {getControl, getMeta, listNodes, listShards} from '../cluster/clusterRepo.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {foldCensus, foldCensusIfDue} from '../cluster/shardCensus.js'
import {sharedNodeView} from './clusterView.js'
import {BugError, UserError, errorMessage, isUserError} from '../errors/errors.js'
import {type HeldLocks} from '../etcd/heldLocks.js'
import {acquireLock, type HeldLock} from '../etcd/leaseLock.js'
import {isTerminal, type Move, type MovePhase, type MoveWarning} from '../model/move.js'
import {EPOCH_STEPS, type Plan} from '../model/plan.js'
import {loadClusterToken} from '../node/clusterToken.js'
import {NodeClients} from '../node/nodeClients.js'
import {LatencyThrottle, type LatencyThrottleOptions} from './adaptiveThrottle.js'
import {describeFloorBound} from './throttleStepText.js'
import {BASELINE_DEFAULTS, measureBaseline} from './latencyBaseline.js'
import {type ExecutorEnv, type ExecutorEvent, type ExecutorOptions, type LiveControl} from './executorEnv.js'
import {type MoveEffects} from './moveEffects.js'
import {completeRecordings, readRecordings, recordPlanMoves, unfinishedMoves, unrecordedMovesOf} from './moveRecording.js'
import {commitMoveTransition, getMove, listMoves, type FencedMove, LockLostError} from './moveStore.js'
import {NodeDirectory} from './nodeDirectory.js'
import {engineLimits, type LatencySignal, latencySignalFor, moveRunnerFor, type MoveRunnerFn, refuseEngineOnlyOptions} from './engineMoveRunner.js'
import {type RedisMoveOptions} from '../redis/redisMoveRunner.js'
import {checkPlanIntegrity, preflightPlan, type Preflight, refuseOtherIncarnation, refuseUnknownNodes} from './planPreflight.js'
import {adoptedMoves, conflictsWithUnfinished, drainingIn, refuseConflicts, supersededMoves} from './unfinishedConflicts.js'
import {refuseOtherPlanUnderSameId} from './recordedPlanIdentity.js'
import {backoffMs, judgeRunFailure, RETRY_POLICY, type RunVerdict} from './retryPolicy.js'
import {type ConcurrencyLimits, DEFAULT_INCOMING_PER_NODE, pickStartable} from './scheduler.js'
import {CopyAdmission, copySlots, willCopy} from './copyAdmission.js'
import {settleStoredThrottle} from './storedThrottle.js'
import {applySplit} from './splitShard.js'
import {TokenBucket} from '../throttle/tokenBucket.js'
import {formatWindow, inWindow, type MaintenanceWindow} from './window.js'

/** ApplyInput configures one `apply` run. */
export interface ApplyInput {
  /** plan to run; undefined with `resume` continues every unfinished move in etcd. */
  plan?: Plan
  limits: ConcurrencyLimits
  /** throttle is the global copy rate (bytes/s); null = unlimited. The `control` key overrides it live. */
  throttle: number | null
  /**
   * throttleGiven: the operator gave this run a global rate of its own (`--throttle RATE` or
   * `auto`), so a rate an earlier `throttle set` left in the control key is cleared as the run
   * starts (settleStoredThrottle); without it that rate still holds (a resume, the autopilot).
   */
  throttleGiven?: boolean
  /** adaptive, when set, drives the global rate from the clients' p99 (`--throttle auto`, see LatencyThrottle). */
  adaptive?: LatencyThrottleOptions
  /**
   * latencyFactor, with `adaptive`: the target is this factor × the clients' p99 measured
   * before the run starts its moves (`--max-client-p99 2x`, see measureBaseline), replacing
   * adaptive.targetP99Ms (then only the fallback when no client traffic was measured).
   */
  latencyFactor?: number
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
  /** moves: each move of the run as it ended; `warnings` what the operator must know beyond its phase (MoveWarning: a master restarted meanwhile). */
  moves: {id: string; shard: number; from: string; to: string; phase: MovePhase; reason: string | null; bytes: number; warnings: MoveWarning[]}[]
  splits: {shard: number; status: string; reason?: string}[]
  counts: Partial<Record<MovePhase, number>>
  /** bytesCopied sums the moves' key and value bytes copied (progress.bytes), not the copy streams' framing; a copy merged from several replicas counts each it read. */
  bytesCopied: number
  durationMs: number
  stopped: boolean
  /**
   * leaseLost: the executor's lease on its lock was lost during the run (etcd unreachable past
   * the TTL), which stopped it (`stopped`): another executor may have taken over, and the
   * unfinished moves continue at the next `apply --resume`. No human took the lock from it.
   */
  leaseLost: boolean
  /**
   * unchanged: the run ended before it split, recorded or started anything (declined, or
   * stopped while it took the lock, preflighted or asked; a lease lost then included). A
   * caller that budgets what it applies (the autopilot) counts nothing of such a plan.
   */
  unchanged: boolean
}

/** ApplyDeps are the injected side effects: clock and sleep (tests control time), and optionally the moves' node effects. */
export interface ApplyDeps {
  now: () => number
  sleep: (ms: number, signal: AbortSignal) => Promise<void>
  emit: (ev: ExecutorEvent) => void
  /** effects replaces the moves' side effects on nodes (tests); default: real nodes. */
  effects?: MoveEffects
  /** heldLocks tracks the executor lock while this run holds it, for a daemon's stop that gives up waiting for the run (the autopilot releases it on its way out). */
  heldLocks?: HeldLocks
}

/**
 * executePlan runs a plan's actions under the cluster's executor lock: verifies the plan's
 * hash, takes the lock, preflights the plan against the map read under it (stale actions
 * are skipped with a reason) and asks for confirmation, applies splits, records every move
 * in etcd (so another process can resume them), then runs moves as concurrently as the
 * limits allow, following pause, throttle and cancel requests from etcd within a second.
 * With `resume` and no plan it continues unfinished moves. Every run that goes ahead (confirmed,
 * not stopped) first records the moves an apply killed while recording a plan left unrecorded
 * (moveRecording.ts); a declined or stopped run leaves them listed. Throws LOCK_HELD
 * (naming the holder) when another executor runs, CONFLICT (nothing changed) when the
 * verdicts changed between the preflight and the answer.
 * Stops cleanly on `signal`: before its first split or record, with nothing changed; later,
 * once the splits and records are written, before the next move starts; every move resumes
 * from its persisted phase next time.
 */
export async function executePlan(ctx: ServiceContext, input: ApplyInput, deps: ApplyDeps, signal: AbortSignal): Promise<ApplyResult> {
  const started = deps.now()
  if (input.plan) checkPlanIntegrity(input.plan, ctx.cluster)
  await refuseEngineOnlyOptions(ctx, input.redis)
  // The lock says what this run runs, so `moves cancel --plan` can tell whether it aborts a plan's marked moves.
  const lock = await acquireLock(ctx.store, ctx.keys.executorLock, input.holder, undefined, undefined, {plan: input.plan?.id ?? null})
  const untrack = deps.heldLocks?.track(lock)
  const stop = new AbortController()
  const onAbort = () => stop.abort()
  signal.addEventListener('abort', onAbort)
  // A stop asked before the listener was added (Ctrl-C while the lock was being taken) fires no event.
  if (signal.aborted) stop.abort()
  let leaseLost = false
  lock.lease.onLost(() => {
    deps.emit({type: 'info', message: 'executor lease lost: stopping', at: new Date(deps.now()).toISOString()})
    leaseLost = true
    stop.abort()
  })
  const clients = new NodeClients({token: await loadClusterToken(ctx, {create: false}).catch(() => ''), timeoutMs: 10_000})
  const info = (message: string) => deps.emit({type: 'info', message, at: new Date(deps.now()).toISOString()})
  try {
    // Ctrl-C while the lock was being taken: stop before changing anything, not after the
    // splits and the moves' records (a stop must not be the last thing that happens).
    if (stop.signal.aborted) return {...stoppedUnchanged(input, started, deps, info), leaseLost}
    // A previous executor may have died before its last fold: bound the deltas it left before adding more.
    await foldCensusIfDue(ctx)
    // A previous apply may have died while recording a plan's moves (moveRecording.ts): its list
    // is read now and completed only once this run goes ahead (below), so a run declined or
    // stopped before then changes nothing. A plan with a whole list counts as recorded: it is
    // completed, not preflighted and recorded a second time. The list's unrecorded moves are
    // `pending` or `skipped`, which make no shard busy, so the preflight's view needs them not.
    const lists = await readRecordings(ctx)
    const existing = await listMoves(ctx)
    const planMoves = input.plan ? existing.filter((m) => m.value.plan === input.plan!.id) : []
    // Recorded (or listed) moves under this id that are not this plan's: another plan with the same id, not "applied already".
    if (input.plan) refuseOtherPlanUnderSameId(input.plan, [...planMoves.map((m) => m.value), ...(await unrecordedMovesOf(ctx, input.plan.id))])
    const alreadyRecorded = planMoves.length > 0 || lists.some((r) => r.whole && r.plan === input.plan?.id)
    // The verdicts are read only now, under the lock: every shard-map writer (splits, move
    // transitions) is fenced on it, so what the operator confirms is what runs. Read before
    // the lock, another apply's splits and cutovers could land between the read and the run.
    const plan = input.plan && !alreadyRecorded ? input.plan : undefined
    // Read under the lock, as the nodes: an init --force since the plan was made restarts every epoch at 1.
    if (input.plan) refuseOtherIncarnation(input.plan, (await getMeta(ctx)).value)
    if (plan) refuseUnknownNodes(plan, new Set((await listNodes(ctx)).map((n) => n.value.id)))
    const preflight = plan ? await preflightNow(ctx, plan) : undefined
    // Another plan's unfinished moves would still run after this plan's, on nodes it did not
    // count them on (overfilling a node both fill): refused before asking, nothing changed.
    // Read under the lock, so no move can start or finish in between.
    if (plan && preflight) await refuseConflictsNow(ctx, plan, preflight)
    if (!(await input.confirm(preflight))) {
      return {...summarise(input.plan?.id ?? null, [], [], started, deps.now(), true), unchanged: true}
    }
    // Ctrl-C while the preflight was read or the question answered: nothing has changed yet.
    // Once the splits start, they and the moves' records are finished (a few transactions; a
    // plan left split but unrecorded would need a fresh preflight), and no move starts.
    if (stop.signal.aborted) return {...stoppedUnchanged(input, started, deps, info), leaseLost}
    // A refusal, too, changes nothing (PlanChangedError says so): it comes before the lists are completed.
    if (plan && preflight) {
      const now = await preflightNow(ctx, plan)
      refuseIfChanged(preflight, now)
      // The lock keeps moves from being recorded or changing, not nodes: one marked draining while
      // the question was open (the autopilot marks a dead node before it takes the executor lock,
      // `node drain` before its apply) makes a move off it a heal, which the sweep lets win over
      // this plan's move of its shard: refused as the check would refuse it now, nothing changed.
      await refuseConflictsNow(ctx, plan, now)
    }
    for (const r of await completeRecordings(ctx, lock)) {
      info(r.whole ? `recorded the ${r.named - r.recorded} move(s) of plan ${r.plan} that an interrupted apply left unrecorded (${r.recorded} of its ${r.named} were recorded)` : `deleted the unfinished list of plan ${r.plan}'s moves that an apply stopped before recording any of them`)
    }
    let splits: ApplyResult['splits'] = []
    if (plan && preflight) {
      splits = await runSplits(ctx, lock, preflight, deps)
      const verdicts = movesVerdicts(preflight, await preflightNow(ctx, plan), deps)
      await recordMoves(ctx, lock, plan, verdicts, deps.now())
    }
    const runMove = await moveRunnerFor(ctx, input.redis)
    // In every run, not only right after recording: a run killed between recording its moves
    // and this left the moves its plan supersedes pending, and a resume would run them first.
    const all = await skipSuperseded(ctx, lock, await listMoves(ctx), deps)
    const mine = all.filter((m) => (input.plan ? m.value.plan === input.plan.id : true) && !isTerminal(m.value.phase))
    // Another plan's unfinished move that this plan makes too (a drain applied again after the
    // first apply stopped mid-move) runs in this run: the conflict check let the plan through
    // because it counts on that move, and this plan's own action for it is skipped as stale once
    // the move has started. Left to a later `apply --resume`, it would sit half-done. Only one
    // still making the move, and there when this plan recorded its own (adoptedMoves): an abort
    // or rollback, or a move recorded since, is left to `apply --resume`.
    if (input.plan) mine.push(...adoptedMoves(input.plan, all))
    if (input.plan === undefined && runMove.resumeFailed) mine.push(...(await reviveFailed(ctx, lock, all, runMove.resumeFailed, deps)))
    if (input.plan === undefined && mine.length === 0) deps.emit({type: 'info', message: 'nothing to resume: every recorded move has finished', at: new Date(deps.now()).toISOString()})
    // Applying a plan again is "already done", not a silent run whose summary reads as fresh work.
    if (input.plan && alreadyRecorded && mine.length === 0) deps.emit({type: 'info', message: `plan ${input.plan.id} was applied already: every one of its ${all.filter((m) => m.value.plan === input.plan!.id).length} recorded move(s) has finished; nothing to run (the moves and bytes below are that run's)`, at: new Date(deps.now()).toISOString()})
    const limits = await engineLimits(ctx, input.limits)
    const final = await runAll(ctx, lock, mine, {...input, limits}, deps, clients, stop.signal, runMove)
    const ids = new Set(mine.map((m) => m.value.id))
    const report = (await listMoves(ctx)).filter((m) => ids.has(m.value.id) || (input.plan && m.value.plan === input.plan.id))
    // After a lost lease, etcd's record is the truth: the executor that took over may have
    // finished (or aborted) a move this one last saw copying, and `moves show` says so.
    const latest = (m: (typeof report)[number]) => (leaseLost ? m.value : (final.get(m.value.id) ?? m.value))
    return {...summarise(input.plan?.id ?? null, report.map(latest), splits, started, deps.now(), stop.signal.aborted), leaseLost}
  } finally {
    signal.removeEventListener('abort', onAbort)
    await clients.close()
    await lock.release()
    untrack?.()
  }
}

/**
 * refuseConflictsNow throws UnfinishedConflictError (CONFLICT, nothing changed) when `plan`
 * conflicts with other plans' unfinished moves (conflictsWithUnfinished) as the map, the nodes'
 * states and the moves are now; `preflight`, read under the lock too, says which actions run.
 * With the moves an interrupted apply listed but did not record: the next run records and runs
 * them too. Its own error class: nothing has changed yet, and the autopilot (which resumes those
 * moves after such a refusal) must not take it for an executor that stopped part way. Only
 * actions that run count as acting on a shard: a stale one leaves the other move valid. A heal's
 * move (off a draining node) the plan would have skipped without taking its shard off that node
 * counts too.
 */
async function refuseConflictsNow(ctx: ServiceContext, plan: Plan, preflight: Preflight): Promise<void> {
  const [{shards}, draining, unfinished] = await Promise.all([listShards(ctx), drainingNow(ctx), unfinishedMoves(ctx)])
  const epochs = new Map(shards.map((s) => [s.value.id, s.value.epoch]))
  refuseConflicts(plan.id, conflictsWithUnfinished(plan, unfinished, (id) => epochs.get(id), draining, (i) => preflight.verdicts[i]?.ok === true))
}

/** drainingNow reads which nodes are marked draining now (a move off one is a heal, see conflictsWithUnfinished). */
async function drainingNow(ctx: ServiceContext): Promise<(node: string) => boolean> {
  return drainingIn((await listNodes(ctx)).map((n) => n.value))
}

/** stoppedUnchanged is the result of a run stopped before it changed anything (no split, no record, no move). */
function stoppedUnchanged(input: ApplyInput, started: number, deps: ApplyDeps, info: (message: string) => void): ApplyResult {
  info('stopped before this run split, recorded or started anything')
  return {...summarise(input.plan?.id ?? null, [], [], started, deps.now(), true), unchanged: true}
}

/**
 * reviveFailed puts the `failed` moves the engine can run again (resumeFailed) back in the
 * phase it names, each in one fenced transaction, and returns them: `apply --resume` after
 * the executor gave up on a move (the redis engine) takes it up from where it stopped. Each
 * is logged with the reason it had failed. A move another writer changed meanwhile is left.
 */
async function reviveFailed(ctx: ServiceContext, lock: HeldLock, all: readonly FencedMove[], resumeFailed: NonNullable<MoveRunnerFn['resumeFailed']>, deps: ApplyDeps): Promise<FencedMove[]> {
  const failed = all.filter((m) => m.value.phase === 'failed')
  if (failed.length === 0) return []
  const {shards} = await listShards(ctx)
  const byId = new Map(shards.map((s) => [s.value.id, s.value]))
  const busy = new Set(all.filter((m) => !isTerminal(m.value.phase)).map((m) => m.value.shard))
  const out: FencedMove[] = []
  for (const m of failed) {
    const phase = resumeFailed(m.value, byId.get(m.value.shard), busy)
    if (!phase) continue
    const revived = await commitMoveTransition(ctx, lock.fence, m, {phase, reason: null}).catch((err: unknown) => {
      if (isUserError(err, 'CONFLICT')) return undefined
      throw err
    })
    if (!revived) continue
    busy.add(m.value.shard)
    out.push(revived)
    deps.emit({type: 'info', message: `move ${m.value.id} (shard ${m.value.shard}) had failed (${m.value.reason ?? 'no reason recorded'}): resuming it in ${phase}`, at: new Date(deps.now()).toISOString()})
  }
  return out
}

/**
 * PlanChangedError is `apply`'s refusal (CONFLICT, exit 7) when the verdicts changed between
 * the preflight and the go-ahead (see refuseIfChanged): thrown before anything was split or
 * recorded (as is UnfinishedConflictError, the refusal of a plan in other plans' moves' way).
 * Its own class because executePlan throws other CONFLICTs after it changed the cluster (its
 * lease lapsed while it split or recorded the moves: some are recorded, the rest listed for the
 * next executor), and a caller that re-plans after a refusal (the autopilot)
 * must tell the two apart.
 */
export class PlanChangedError extends UserError {
  constructor(message: string, hint: string) {
    super('CONFLICT', message, hint)
  }
}

/** preflightNow preflights `plan` against the shard map, nodes, meta and moves as they are now (apply calls it holding the executor lock). */
async function preflightNow(ctx: ServiceContext, plan: Plan): Promise<Preflight> {
  const [{shards}, nodes, meta, moves] = await Promise.all([listShards(ctx), listNodes(ctx), getMeta(ctx), listMoves(ctx)])
  const unfinished = moves.map((m) => m.value).filter((m) => !isTerminal(m.phase))
  return preflightPlan(plan, shards.map((s) => s.value), new Set(nodes.map((n) => n.value.id)), EPOCH_STEPS, {nextShardId: meta.value.nextShardId, unfinished, nodeStates: new Map(nodes.map((n) => [n.value.id, n.value.state]))})
}

/**
 * refuseIfChanged throws CONFLICT when the verdicts read again after the confirmation differ
 * from the ones confirmed (the map changed while the question was open, by a writer that
 * ignored the executor lock): nothing has been split or recorded yet, and a reviewed plan
 * (a CI gate, an operator's "y") must not run on verdicts nobody saw. Re-running `apply`
 * shows the new ones.
 */
function refuseIfChanged(confirmed: Preflight, now: Preflight): void {
  const changed = confirmed.verdicts.filter((v, i) => v.ok !== now.verdicts[i]?.ok || v.reason !== now.verdicts[i]?.reason)
  if (changed.length === 0) return
  const first = now.verdicts[changed[0]!.index]
  throw new PlanChangedError( `the shard map changed while apply waited for confirmation: ${changed.length} action verdict(s) differ from those confirmed (action ${changed[0]!.index}: now ${first?.ok ? 'runnable' : `stale, ${first?.reason}`}); nothing was split or recorded`, `run \`shardctl apply ${confirmed.planId}\` again to see the new preflight`)
}

/**
 * movesVerdicts returns the verdicts to record the moves by once the splits have run: a move
 * runs only if it was confirmed runnable and still is on the map the splits left (a split
 * confirmed runnable that applySplit skipped makes no piece, and the move of "its" new id would
 * otherwise be recorded pending, to run on whatever shard holds that id). The splits this run
 * made are "already made" to preflightPlan, so they do not make their pieces' moves stale.
 */
function movesVerdicts(confirmed: Preflight, afterSplits: Preflight, deps: ApplyDeps): Preflight {
  const verdicts = confirmed.verdicts.map((v, i) => {
    const later = afterSplits.verdicts[i]
    if (!v.ok || v.action.kind !== 'move' || !later || later.ok) return v
    deps.emit({type: 'info', message: `move of shard ${v.action.shard} (action ${v.index}) is skipped: ${later.reason ?? 'stale'} once the splits ran`, at: new Date(deps.now()).toISOString()})
    return later
  })
  const runnable = verdicts.filter((v) => v.ok).length
  return {...confirmed, verdicts, runnable, stale: verdicts.length - runnable}
}

async function runSplits(ctx: ServiceContext, lock: HeldLock, preflight: Preflight, deps: ApplyDeps): Promise<ApplyResult['splits']> {
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

/**
 * recordMoves creates a `moves/<plan>-<index>` record per move action (stale ones as
 * skipped), fenced on the lock, all or nothing as far as a kill goes: see moveRecording.ts.
 */
async function recordMoves(ctx: ServiceContext, lock: HeldLock, plan: Plan, preflight: Preflight, now: number): Promise<void> {
  const at = new Date(now).toISOString()
  const moves = preflight.verdicts.flatMap((v): Move[] => {
    if (v.action.kind !== 'move') return []
    const a = v.action
    return [
      {
        id: `${plan.id}-${String(v.index).padStart(4, '0')}`,
        plan: plan.id,
        index: v.index,
        shard: a.shard,
        from: a.from,
        to: a.to,
        baseEpoch: a.epoch,
        epoch: a.epoch,
        phase: v.ok ? 'pending' : 'skipped',
        progress: {bytes: 0, keys: 0, totalBytes: a.bytes, rateBytesPerSec: 0, dataRateBytesPerSec: 0, cursor: null, stalled: false},
        cancelRequested: false,
        rollbackRequested: false,
        reason: v.ok ? null : (v.reason ?? 'stale'),
        attempts: 0,
        createdAt: at,
        updatedAt: at,
        cutoverAt: null,
        copyStartedAt: null,
      },
    ]
  })
  await recordPlanMoves(ctx, lock, plan.id, moves)
}

/**
 * skipSuperseded records `skipped` (fenced, with a reason naming the superseding move) every
 * unstarted move that a later-recorded plan's move of its shard at the same epoch supersedes
 * (supersededMoves): that plan was let through counting on it being skipped, which held only if
 * its own move ran first. Where one of them takes the shard off a draining node (a heal), that
 * one wins, and the reason says so. A move another writer changed meanwhile is left (it
 * re-validates its epoch when it starts). Returns `all` with the moves it skipped as they are now.
 */
async function skipSuperseded(ctx: ServiceContext, lock: HeldLock, all: FencedMove[], deps: ApplyDeps): Promise<FencedMove[]> {
  const now = new Map<string, FencedMove>()
  const draining = await drainingNow(ctx)
  for (const {move, by} of supersededMoves(all, draining)) {
    const m = move.value
    const o = by.value
    const reason = draining(o.from)
      ? `superseded by plan ${o.plan}'s move of shard ${o.shard} (${o.from} -> ${o.to}), which takes it off draining node ${o.from} at epoch ${m.baseEpoch}: a move re-creating a draining node's replica elsewhere wins over other moves of its shard`
      : `superseded by plan ${o.plan}'s move of shard ${o.shard} (${o.from} -> ${o.to}), which acts on it first at epoch ${m.baseEpoch}; that plan was let through counting on this move being skipped`
    const done = await commitMoveTransition(ctx, lock.fence, move, {phase: 'skipped', reason}).catch((err: unknown) => {
      if (isUserError(err, 'CONFLICT')) return undefined
      throw err
    })
    if (!done) continue
    now.set(m.id, done)
    deps.emit({type: 'info', message: `move ${m.id} (plan ${m.plan}, shard ${m.shard} ${m.from} -> ${m.to}) is skipped: ${reason}`, at: new Date(deps.now()).toISOString()})
  }
  // The list as it is now, without reading every move again (a move list can be 100k long).
  return now.size === 0 ? all : all.map((m) => now.get(m.value.id) ?? m)
}

/** RunLoop is the shared state of one executor loop: the latest record of every move and the runners in flight. */
interface RunLoop {
  latest: Map<string, Move>
  fenced: Map<string, FencedMove>
  running: Map<string, Promise<void>>
  /** reread: moves whose runner ended without finishing (re-read so the scheduler sees their real phase). */
  reread: Set<string>
  /** failures: how many runs of each move in a row ended in an error (reset by a run that returns), for the backoff before the next. */
  failures: Map<string, number>
  /** fatal: the LockLostError that stops the loop. */
  fatal?: unknown
  /** halt aborts every runner's sleeps (a backoff included) once {@link RunLoop.fatal} is set: a lost lock ends the run now. */
  halt: AbortController
  /** wake ends the loop's current sleep early (a runner ended: its slot can be refilled now). */
  wake?: AbortController
}

/**
 * runAll runs `moves` until each is terminal or the executor stops: every half second it
 * starts what the scheduler allows, follows the operator's control and re-reads runners
 * that ended early. Returns the latest record of every move; rethrows a lost lock.
 */
async function runAll(ctx: ServiceContext, lock: HeldLock, moves: FencedMove[], input: ApplyInput, deps: ApplyDeps, clients: NodeClients, signal: AbortSignal, runMove: MoveRunnerFn): Promise<Map<string, Move>> {
  const loop: RunLoop = {latest: new Map(moves.map((m) => [m.value.id, m.value])), fenced: new Map(moves.map((m) => [m.value.id, m])), running: new Map(), reread: new Set(), failures: new Map(), halt: new AbortController()}
  const control: LiveControl = {paused: false, inWindow: () => (input.window ? inWindow(input.window, new Date(deps.now())) : true)}
  // Unreadable now, the control is followed (and its rate used) from the first half-second tick on, as before.
  const stored = await settleStoredThrottle(ctx, input.throttleGiven === true).catch(() => undefined)
  if (stored) deps.emit({type: 'info', message: stored, at: new Date(deps.now()).toISOString()})
  const latency = input.adaptive ? await latencySignalFor(ctx) : undefined
  const throttles = new LiveThrottles(latency ? await withBaselineTarget(input, latency, moves, deps, signal) : input, deps)
  // Runners sleep on the stop signal and on the loop's halt (a lost lock), so neither waits out a backoff.
  // The kv engine's copies each keep the 16KiB/s floor: fewer run at once when the rates are low (copyAdmission.ts).
  const copies = runMove.copySlots ? new CopyAdmission(() => ({global: throttles.global.currentRate(), send: (n) => throttles.node(n).currentRate(), receive: (n) => throttles.node(n).currentRate()})) : undefined
  const env = executorEnv(ctx, lock, input, {...deps, emit: (ev) => (throttles.noteProgress(ev), deps.emit(ev))}, clients, AbortSignal.any([signal, loop.halt.signal]), control, throttles, loop, copies)
  const runningMoves = () => [...loop.running.keys()].flatMap((id) => loop.latest.get(id) ?? [])
  const followControl = controlFollower(ctx, input, deps, control, throttles, latency && {signal: latency, running: runningMoves, flowing: () => throttles.flowing(new Set(loop.running.keys()))})
  const foldNow = censusFolder(ctx, deps)
  try {
    await followControl()
    await runUntilDone(env, loop, input, deps, signal, runMove, followControl, foldNow)
  } finally {
    latency?.close()
  }
  await Promise.all(loop.running.values())
  await foldNow(true)
  if (loop.fatal) throw loop.fatal
  return loop.latest
}

/** runUntilDone is runAll's loop: start what the scheduler allows, sleep half a second (or until a runner ends), follow control, re-read ended runners. */
async function runUntilDone(env: ExecutorEnv, loop: RunLoop, input: ApplyInput, deps: ApplyDeps, signal: AbortSignal, runMove: MoveRunnerFn, followControl: () => Promise<void>, foldNow: (force: boolean) => Promise<void>): Promise<void> {
  const control = env.control
  // Outside --window nothing starts or copies: say so when that begins and ends, else the run looks hung.
  let outside = false
  while (!env.stopped()) {
    const pending = [...loop.latest.values()].filter((m) => !isTerminal(m.phase))
    if (pending.length === 0 && loop.running.size === 0) break
    const open = control.inWindow()
    if (input.window && open === outside) {
      const w = formatWindow(input.window)
      deps.emit({type: 'info', message: open ? `the maintenance window ${w} is open: moves go on` : `outside the maintenance window ${w} (local time): ${pending.length} move(s) wait for it to open`, at: new Date(deps.now()).toISOString()})
      outside = !open
    }
    if (!control.paused && open) startMoves(env, loop, copyLimits(input.limits, input.nodeThrottle, env.copies), deps, runMove)
    // Moves already running keep their own pace; in-progress (resumed) moves with
    // phases past pending are started like any other: runMove continues from their phase.
    // A runner that ends wakes the loop, so its slot is refilled at once, not up to 500 ms later.
    loop.wake = new AbortController()
    await deps.sleep(500, AbortSignal.any([signal, loop.wake.signal]))
    await followControl()
    await rereadEnded(env.ctx, loop)
    await foldNow(false)
  }
}

/** CENSUS_FOLD_MS: how often a running executor folds the census deltas its moves wrote into the base (status reads stay a few keys). */
const CENSUS_FOLD_MS = 10_000

/** censusFolder returns a function folding the census at most every CENSUS_FOLD_MS (or now, with `force`); best effort: a failed fold leaves the deltas for the next. */
function censusFolder(ctx: ServiceContext, deps: ApplyDeps): (force: boolean) => Promise<void> {
  let last = deps.now()
  return async (force) => {
    if (!force && deps.now() - last < CENSUS_FOLD_MS) return
    last = deps.now()
    await foldCensus(ctx).catch(() => 0)
  }
}

/** executorEnv builds the environment every move runner of this run shares. */
function executorEnv(ctx: ServiceContext, lock: HeldLock, input: ApplyInput, deps: ApplyDeps, clients: NodeClients, signal: AbortSignal, control: LiveControl, throttles: LiveThrottles, loop: RunLoop, copies: CopyAdmission | undefined): ExecutorEnv {
  const directory = new NodeDirectory(async () => new Map((await listNodes(ctx)).map((n) => [n.value.id, n.value.address])), deps.now)
  return {
    ctx,
    fence: lock.fence,
    async client(id) {
      return clients.client({id, address: await directory.address(id)})
    },
    throttles: {global: throttles.global, node: (id) => throttles.node(id)},
    control,
    options: input.options,
    now: deps.now,
    sleep: (ms) => deps.sleep(ms, signal),
    runningMoves: () => loop.running.size,
    ...(copies ? {copies} : {}),
    stopped: () => signal.aborted || loop.fatal !== undefined,
    // Read now, not from the lost event: a process that wakes from a freeze runs what its I/O
    // answered before the lease's own timer fires, and must not act on the stale "held".
    lockState: () => ({key: lock.key, lost: !lock.held(), msLeft: lock.lease.msLeft?.() ?? null}),
    emit: deps.emit,
    ...(deps.effects ? {effects: deps.effects} : {}),
    nodeView: sharedNodeView(ctx, deps.now),
  }
}

/**
 * copyLimits narrows `limits` to what the throttles carry with every copy at the 16KiB/s
 * floor (copyAdmission.ts): no more moves that still have to copy start than the cluster
 * rate has free copy slots, and no more moves out of or into one node than `--node-throttle`
 * carries. Moves started anyway (a source chosen again, a rate cut since) wait for a slot in
 * their copy. Without `copies` (the redis engine), `limits` as they are.
 */
function copyLimits(limits: ConcurrencyLimits, nodeThrottle: number | null, copies: CopyAdmission | undefined): ConcurrencyLimits {
  if (!copies) return limits
  const node = copySlots(nodeThrottle)
  return {...limits, perNode: Math.min(limits.perNode, node), incomingPerNode: Math.min(limits.incomingPerNode ?? DEFAULT_INCOMING_PER_NODE, node), copySlots: copies.freeSlots()}
}

/**
 * startMoves starts a runner for every move the scheduler allows now. A runner that throws
 * (the redis engine's runner leaves every error to this loop: a master down or failed over, a
 * refused SETSLOT) is run again after the retry policy's backoff (backoffMs, doubling to 5 s
 * while it keeps failing), and the move keeps its place in the schedule meanwhile, so no other
 * move takes its masters while one of its slots may be open. Without the backoff a master
 * that refused connections was retried every few milliseconds, a log line each. When the
 * engine names a way out (redis), runs that keep failing without progress are bounded
 * (judgeRun): the move is then recorded `failed` with it, rather than retried for ever.
 */
function startMoves(env: ExecutorEnv, loop: RunLoop, limits: ConcurrencyLimits, deps: ApplyDeps, runMove: MoveRunnerFn): void {
  for (const m of pickStartable([...loop.latest.values()], new Set(loop.running.keys()), limits)) {
    const fm = loop.fenced.get(m.id)
    if (!fm) throw new BugError(`move ${m.id} is scheduled but was never read`)
    if (willCopy(m.phase)) env.copies?.bind(m.id)
    const p = runMove(env, fm)
      .then((done) => {
        loop.failures.delete(m.id)
        loop.latest.set(done.value.id, done.value)
        loop.fenced.set(done.value.id, done)
      })
      .catch(async (err: unknown) => {
        if (err instanceof LockLostError) {
          loop.fatal = err
          loop.halt.abort()
          return
        }
        // Re-read once this run has ended (after its backoff: rereadEnded keeps a move still running for a later pass).
        loop.reread.add(m.id)
        const v = await judgeRun(env, loop, fm, err, runMove.giveUpWayOut)
        if (v.do === 'fail') return
        loop.failures.set(m.id, v.failures)
        deps.emit({type: 'retry', move: m.id, what: 'run', error: `${errorMessage(err)} (run ${v.failures} in a row to fail${runMove.giveUpWayOut ? ` of ${RETRY_POLICY.maxAttempts}` : ''}; next in ${(v.afterMs / 1000).toFixed(1)} s)`, at: new Date(deps.now()).toISOString()})
        await env.sleep(v.afterMs)
      })
      .finally(() => {
        env.copies?.unbind(m.id)
        loop.running.delete(m.id)
        loop.wake?.abort()
      })
    loop.running.set(m.id, p)
  }
}

/**
 * judgeRun decides what follows a run of `fm` that threw `err`. Without a way out from the
 * engine (kv) the run is retried for ever with backoff, as before. With one, judgeRunFailure
 * bounds runs that fail without progress (the phase or cursor in etcd unchanged since the run
 * started); when it gives up, the move is recorded `failed` (fenced) with the reason and way
 * out, the loop keeps that record, and a phase event says so. A give-up that cannot be recorded
 * (etcd down, the record changed) is retried; a lost lock stops the loop.
 */
async function judgeRun(env: ExecutorEnv, loop: RunLoop, fm: FencedMove, err: unknown, wayOut: string | undefined): Promise<RunVerdict> {
  const failures = loop.failures.get(fm.value.id) ?? 0
  if (wayOut === undefined) return {do: 'retry', afterMs: backoffMs(failures + 1), failures: failures + 1}
  const now = await getMove(env.ctx, fm.value.id).catch(() => undefined)
  const progressed = now !== undefined && (now.value.phase !== fm.value.phase || now.value.progress.cursor !== fm.value.progress.cursor)
  const v = judgeRunFailure({failures, progressed, counts: now !== undefined && !isUserError(err, 'ETCD_UNREACHABLE'), message: errorMessage(err), wayOut})
  if (v.do === 'retry' || !now || isTerminal(now.value.phase)) return v.do === 'retry' ? v : {do: 'retry', afterMs: backoffMs(failures), failures}
  try {
    const failed = await commitMoveTransition(env.ctx, env.fence, now, {phase: 'failed', reason: v.reason})
    loop.latest.set(failed.value.id, failed.value)
    loop.fenced.set(failed.value.id, failed)
    loop.failures.delete(failed.value.id)
    loop.reread.delete(failed.value.id)
    const f = failed.value
    env.emit({type: 'phase', move: f.id, shard: f.shard, from: f.from, to: f.to, phase: f.phase, reason: f.reason, at: new Date(env.now()).toISOString()})
    return v
  } catch (e) {
    if (e instanceof LockLostError) {
      loop.fatal = e
      loop.halt.abort()
      return v
    }
    return {do: 'retry', afterMs: backoffMs(failures), failures}
  }
}

/**
 * rereadEnded re-reads moves whose runner ended unexpectedly (not terminal) so the scheduler
 * sees their real phase. A move whose runner is still settling (sleeping its backoff) stays
 * marked for a later pass: its next run must get the record its failed run left, not the one
 * from before it (a stale phase or cursor would undo that run's progress, or an abort).
 */
async function rereadEnded(ctx: ServiceContext, loop: RunLoop): Promise<void> {
  const ended = [...loop.reread].filter((id) => !loop.running.has(id))
  if (ended.length === 0) return
  const all = await listMoves(ctx).catch(() => undefined)
  if (!all) return
  for (const fm of all) {
    if (ended.includes(fm.value.id) && !loop.running.has(fm.value.id)) {
      loop.latest.set(fm.value.id, fm.value)
      loop.fenced.set(fm.value.id, fm)
    }
  }
  for (const id of ended) loop.reread.delete(id)
}

/**
 * withBaselineTarget returns `input` with `--throttle auto`'s target set from the clients'
 * p99 before this run starts its moves, when the target is a factor (`--max-client-p99 2x`):
 * read for up to a few seconds from the same signal the controller follows (given the
 * run's moves, so on redis their masters are pinged), logged as an `info` event. A
 * baseline is what a move's impact is judged against, and a fixed default (25 ms) either
 * starves the copy on a cluster whose clients already see 30 ms or lets it triple a 5 ms p99.
 */
async function withBaselineTarget(input: ApplyInput, latency: LatencySignal, moves: readonly FencedMove[], deps: ApplyDeps, signal: AbortSignal): Promise<ApplyInput> {
  const factor = input.latencyFactor
  if (!input.adaptive || factor === undefined) return input
  const b = await measureBaseline(() => latency.read(moves.map((m) => m.value)), factor, deps, signal, {...BASELINE_DEFAULTS, minSamples: input.adaptive.minSamples, fallbackMs: input.adaptive.targetP99Ms})
  const basis = b.steady ? `over the ${Math.round(b.steady.windowMs / 1000)} s before the copies` : 'before the copies'
  const restsOn = b.steady ? `${b.steady.samples} latencies` : `median of ${b.readings} reading${b.readings === 1 ? '' : 's'}`
  const message =
    b.baselineMs === null
      ? `auto throttle: no ${latency.what} measured before the copies (no client traffic yet); target ${b.targetMs} ms`
      : `auto throttle: ${latency.what} ${basis} ${b.baselineMs.toFixed(1)} ms (${restsOn}); target ${b.targetMs.toFixed(1)} ms (${factor}x${b.targetMs > factor * b.baselineMs ? `, raised to the ${BASELINE_DEFAULTS.floorMs} ms floor` : ''})`
  deps.emit({type: 'info', message, at: new Date(deps.now()).toISOString()})
  return {...input, adaptive: {...input.adaptive, targetP99Ms: b.targetMs}}
}

/** FLOW_FRESH_MS: a move's last reported copy rate counts towards the flowing rate this long. */
const FLOW_FRESH_MS = 5000

/** LiveThrottles are this run's token buckets: one global (rate followed live) and one per node; with `--throttle auto`, its controller and the copies' reported rates. */
class LiveThrottles {
  readonly auto: LatencyThrottle | undefined
  readonly global: TokenBucket
  lastAdapt: number
  private readonly nodes = new Map<string, TokenBucket>()
  private readonly rates = new Map<string, {rate: number; at: number}>()

  constructor(
    private readonly input: ApplyInput,
    private readonly deps: ApplyDeps,
  ) {
    this.auto = input.adaptive ? new LatencyThrottle(input.adaptive) : undefined
    this.global = new TokenBucket(this.auto ? this.auto.current() : input.throttle, deps.now)
    this.lastAdapt = deps.now()
  }

  /** noteProgress keeps the copy rate a move's progress event reports. */
  noteProgress(ev: ExecutorEvent): void {
    if (ev.type === 'progress') this.rates.set(ev.move, {rate: ev.rateBytesPerSec, at: this.deps.now()})
  }

  /** flowing is the sum of the copy rates the `running` moves reported in the last FLOW_FRESH_MS; null when none did. */
  flowing(running: ReadonlySet<string>): number | null {
    let sum: number | null = null
    for (const [id, r] of this.rates) {
      if (!running.has(id)) this.rates.delete(id)
      else if (this.deps.now() - r.at <= FLOW_FRESH_MS) sum = (sum ?? 0) + r.rate
    }
    return sum
  }

  /** node returns the bucket of one node, created at the per-node rate on first use. */
  node(id: string): TokenBucket {
    let b = this.nodes.get(id)
    if (!b) this.nodes.set(id, (b = new TokenBucket(this.input.nodeThrottle, this.deps.now)))
    return b
  }
}

/** AdaptiveInput is what `--throttle auto` follows: the engine's latency signal, the moves running now and the rate their copies flow at. */
interface AdaptiveInput {
  signal: LatencySignal
  running: () => Move[]
  flowing: () => number | null
}

/** controlFollower returns a function that follows the operator's control record (pause, throttle) and, with `--throttle auto`, the engine's latency signal. */
function controlFollower(ctx: ServiceContext, input: ApplyInput, deps: ApplyDeps, control: LiveControl, throttles: LiveThrottles, latency: AdaptiveInput | undefined): () => Promise<void> {
  const info = (message: string) => deps.emit({type: 'info', message, at: new Date(deps.now()).toISOString()})
  return async () => {
    const c = await getControl(ctx).catch(() => undefined)
    if (!c) return
    if (c.paused !== control.paused) info(c.paused ? 'paused by operator' : 'resumed by operator')
    control.paused = c.paused
    if ((c.throttleKeysPerSec ?? null) !== (control.keysPerSec ?? null)) info(`keys/s now ${c.throttleKeysPerSec ?? "apply's --keys-per-sec"}`)
    control.keysPerSec = c.throttleKeysPerSec ?? null
    const adaptive = c.throttleBytesPerSec === null && throttles.auto !== undefined && latency !== undefined
    const rate = adaptive ? await adaptRate(deps, throttles, latency) : (c.throttleBytesPerSec ?? input.throttle)
    if (rate !== throttles.global.currentRate()) {
      throttles.global.setRate(rate)
      if (!adaptive) info(`throttle now ${rate === null ? 'unlimited' : `${rate} B/s`}`)
    }
  }
}

/**
 * adaptRate feeds the engine's latency signal (the routers' worst short-window client p99
 * on kv, the masters' PING p99 on redis) to the controller once a second, emits the step
 * (a `throttle` event; none for a reading already acted on) and returns the rate to use.
 */
async function adaptRate(deps: ApplyDeps, throttles: LiveThrottles, latency: AdaptiveInput): Promise<number> {
  const auto = throttles.auto
  if (!auto || !latency) throw new BugError('adaptRate called without an adaptive throttle')
  if (deps.now() - throttles.lastAdapt < 1000) return auto.current()
  throttles.lastAdapt = deps.now()
  const reading = await latency.signal.read(latency.running())
  const flowing = latency.flowing()
  const now = deps.now()
  const step = auto.observe(reading, now, flowing)
  if (step.action !== 'seen') {
    deps.emit({type: 'throttle', signal: latency.signal.what, p99Ms: reading?.p99Ms ?? null, samples: reading?.samples ?? null, windowMs: reading?.windowMs ?? null, ageMs: reading ? now - reading.at : null, targetP99Ms: auto.target(), action: step.action, rateBytesPerSec: step.rate, flowingBytesPerSec: flowing, at: new Date(now).toISOString()})
  }
  if (step.floorBound) deps.emit({type: 'info', message: describeFloorBound(latency.signal.what, auto.target(), step.rate, step.floorBound), at: new Date(now).toISOString()})
  return step.rate
}

function summarise(plan: string | null, moves: Move[], splits: ApplyResult['splits'], started: number, now: number, stopped: boolean): ApplyResult {
  const counts: Partial<Record<MovePhase, number>> = {}
  for (const m of moves) counts[m.phase] = (counts[m.phase] ?? 0) + 1
  return {
    plan,
    moves: moves.map((m) => ({id: m.id, shard: m.shard, from: m.from, to: m.to, phase: m.phase, reason: m.reason, bytes: m.progress.bytes, warnings: m.warnings ?? []})),
    splits,
    counts,
    bytesCopied: moves.reduce((a, m) => a + m.progress.bytes, 0),
    durationMs: now - started,
    stopped,
    leaseLost: false,
    unchanged: false,
  }
}
