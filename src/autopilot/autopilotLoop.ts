import {type KeyObject} from 'node:crypto'
import {join} from 'node:path'
import {getNode} from '../cluster/clusterRepo.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {foldCensusIfDue} from '../cluster/shardCensus.js'
import {readSnapshot} from '../cluster/snapshotService.js'
import {errorMessage, isUserError, UserError} from '../errors/errors.js'
import {type HeldLocks} from '../etcd/heldLocks.js'
import {acquireLock, type HeldLock, LockHeldError, LockLapsedError, parseLockHolder} from '../etcd/leaseLock.js'
import {type ApplyDeps, type ApplyInput, type ApplyResult, executePlan, PlanChangedError} from '../executor/executePlan.js'
import {type ExecutorEvent, type ExecutorOptions} from '../executor/executorEnv.js'
import {type MoveEffects} from '../executor/moveEffects.js'
import {readRecordings} from '../executor/moveRecording.js'
import {listMoves, LockLostError} from '../executor/moveStore.js'
import {type ConcurrencyLimits} from '../executor/scheduler.js'
import {UnknownNodeError} from '../executor/planPreflight.js'
import {UnfinishedConflictError} from '../executor/unfinishedConflicts.js'
import {inWindow, type MaintenanceWindow} from '../executor/window.js'
import {isTerminal, lossWarnings, warningNode} from '../model/move.js'
import {NodeSchema} from '../model/node.js'
import {type Plan} from '../model/plan.js'
import {writePlanFile} from '../plans/planFiles.js'
import {signPlan} from '../plans/signing.js'
import {type AutopilotMetrics} from './autopilotMetrics.js'
import {type AutopilotHistory, autopilotKeys, type AutopilotState, AutopilotStateSchema, type DecisionRecord, EMPTY_HISTORY, MAX_DECISIONS} from './autopilotState.js'
import {type AutopilotPolicy, decide, type Decision, type Observation} from './decide.js'
import {readAutopilotControl} from './autopilotService.js'

/** AutopilotInput configures one `shardctl autopilot` process. */
export interface AutopilotInput {
  /** id names this candidate in the election (`autopilot/lock`'s holder) and the executor lock. */
  id: string
  policy: AutopilotPolicy
  /** intervalMs is the time between two checks (and between two election attempts on standby). */
  intervalMs: number
  /** leaseTtlSeconds: a dead leader is replaced within this (its lease expires). */
  leaseTtlSeconds: number
  /** dryRun writes the plans it would apply and changes nothing in the cluster. */
  dryRun: boolean
  window?: MaintenanceWindow
  limits: ConcurrencyLimits
  /** throttle is the copy rate of rebalance moves; healThrottle that of healing (and resumed) moves; null = unlimited. */
  throttle: number | null
  healThrottle: number | null
  nodeThrottle: number | null
  options: ExecutorOptions
  /** plansDir: plans are written to `<plansDir>/<plan id>.json` (`plans/` by default, like `shardctl plan`). */
  plansDir: string
  /** signKey signs every plan written (Ed25519 private key), for `apply --require-signature` audits. */
  signKey?: KeyObject
  metrics?: AutopilotMetrics
}

/** AutopilotEvent is what the loop reports (the command logs it as JSON lines; services never print). */
export type AutopilotEvent =
  | {type: 'standby'; leader: string | null}
  | {type: 'leader'; since: string}
  | {type: 'deposed'; reason: string}
  | {type: 'decision'; kind: Decision['kind']; reason: string; plan: string | null}
  | {type: 'outcome'; kind: Decision['kind']; plan: string | null; outcome: string}
  | {type: 'error'; message: string}
  | {type: 'executor'; event: ExecutorEvent}

/** AutopilotDeps are the injected side effects: clock, abortable sleep, and where events go. */
export interface AutopilotDeps {
  now: () => number
  sleep: (ms: number, signal: AbortSignal) => Promise<void>
  report: (ev: AutopilotEvent) => void
  /** effects replaces the moves' side effects on nodes (tests, as {@link ApplyDeps.effects}); default: real nodes. */
  effects?: MoveEffects
  /** heldLocks tracks the leadership lock and its executor's lock while held, so a stop that gives up waiting for the loop can release them (the command does). */
  heldLocks?: HeldLocks
}

/**
 * CONFLICT_ATTEMPTS bounds the observations one check acts on after `apply` refused its plan
 * with CONFLICT before anything of it was split or recorded: the map changed between its
 * preflight and its go-ahead (PlanChangedError), or the plan conflicts with another plan's
 * unfinished moves (UnfinishedConflictError) — not the executor's other CONFLICTs, which come
 * after it changed things. Such a refusal is not a lost leadership: the check re-reads the
 * cluster at once (a fresh plan for a changed map; for unfinished moves, decide() then
 * resumes them before planning anything), and after this many refusals in a row it records
 * the failure and waits for the next check, so a writer that keeps changing the map cannot
 * make it spin.
 */
export const CONFLICT_ATTEMPTS = 3

/**
 * RefusalKind says why an `apply` of the autopilot ended before anything of it ran, told by
 * the error's class (or the result's `unchanged`), never its text: `map-changed`
 * (PlanChangedError, or UnknownNodeError for a node removed since the check looked: planning
 * again may pass), `unfinished-moves` (UnfinishedConflictError: planning again from the same map
 * gives the same refusal; those moves must run first), `lock-held` (LockHeldError: someone
 * took the executor lock between the check and the apply; the autopilot defers to them),
 * `lock-lapsed` (LockLapsedError: the executor's lease lapsed while it took the lock, etcd
 * trouble; the next check tries again), `lease-lost-unchanged` (the lease was lost after it
 * took the lock, before it split or recorded anything of the plan: the same, a moment later;
 * told by the result's `unchanged`, or, for a plan without splits, by no move of it recorded
 * or listed once its fenced writes failed), `stopped-unchanged` (the autopilot stopping or
 * deposed before then) and `failed-unchanged` (any other error, etcd trouble, before a move of
 * a plan without splits was recorded or listed: the next check plans afresh).
 */
type RefusalKind = 'map-changed' | 'unfinished-moves' | 'lock-held' | 'lock-lapsed' | 'lease-lost-unchanged' | 'stopped-unchanged' | 'failed-unchanged'

/** ApplyRefused wraps the refusal of an `apply` of the autopilot, so it is not taken for the autopilot's own fenced writes failing (lost leadership), nor its plan for one that ran. */
class ApplyRefused extends Error {
  constructor(
    readonly kind: RefusalKind,
    message: string,
    /** hint is the refusal's way out, when it names one. */
    readonly hint?: string,
  ) {
    super(message)
  }

  static of(kind: RefusalKind, refusal: UserError): ApplyRefused {
    return new ApplyRefused(kind, refusal.message, refusal.hint)
  }
}

/**
 * runAutopilot campaigns for the cluster's autopilot leadership and, while it leads, runs the
 * reconcile loop: every `intervalMs` it reads the cluster, asks {@link decide} what to do and
 * does it (mark dead nodes draining, write the plan under `plans/`, run it with the executor,
 * under the executor lock like a human `apply`), recording each decision and its outcome in
 * `autopilot/state`. Only one process leads: leadership is a leased lock, and every write of
 * the leader (state, node marks) compares the lock's create revision, so a deposed leader's
 * write fails instead of landing; moves it started are fenced by the executor lock. A
 * standby retries every interval and takes over within the lease TTL of the leader's death,
 * resuming the moves it left. Returns when `signal` aborts (the lock released).
 */
export async function runAutopilot(ctx: ServiceContext, input: AutopilotInput, deps: AutopilotDeps, signal: AbortSignal): Promise<void> {
  const keys = autopilotKeys(ctx.keys.prefix)
  let lastStandby: string | null | undefined
  while (!signal.aborted) {
    let lock: HeldLock
    try {
      lock = await acquireLock(ctx.store, keys.lock, `autopilot ${input.id}`, input.leaseTtlSeconds, () => new Date(deps.now()))
    } catch (err) {
      if (!isUserError(err, 'LOCK_HELD')) deps.report({type: 'error', message: `election: ${errorMessage(err)}`})
      else {
        const current = await ctx.store.get(keys.lock).catch(() => undefined)
        const leader = current ? (parseLockHolder(current.value)?.holder ?? null) : null
        if (leader !== lastStandby) deps.report({type: 'standby', leader})
        lastStandby = leader
      }
      input.metrics?.leader.set(0)
      await deps.sleep(input.intervalMs, signal).catch(() => undefined)
      continue
    }
    lastStandby = undefined
    const untrack = deps.heldLocks?.track(lock)
    await lead(ctx, input, deps, signal, lock)
    untrack?.()
    input.metrics?.leader.set(0)
  }
}

/** lead runs reconcile checks while `lock` is held, then releases it. */
async function lead(ctx: ServiceContext, input: AutopilotInput, deps: AutopilotDeps, signal: AbortSignal, lock: HeldLock): Promise<void> {
  const keys = autopilotKeys(ctx.keys.prefix)
  const deposed = new AbortController()
  const onAbort = () => deposed.abort()
  signal.addEventListener('abort', onAbort)
  // A stop asked while the lock was being taken fires no event: without this the leader never stopped.
  if (signal.aborted) deposed.abort()
  lock.lease.onLost(() => {
    deps.report({type: 'deposed', reason: 'the leadership lease was lost'})
    deposed.abort()
  })
  const since = new Date(deps.now()).toISOString()
  deps.report({type: 'leader', since})
  input.metrics?.leader.set(1)
  try {
    const previous = await ctx.store.getTyped(keys.state, AutopilotStateSchema).catch(() => undefined)
    let state: AutopilotState = {
      leader: `autopilot ${input.id}`,
      leaderSince: since,
      updatedAt: since,
      nextCheckAt: null,
      dryRun: input.dryRun,
      underReplicated: previous?.value.underReplicated ?? 0,
      history: previous?.value.history ?? EMPTY_HISTORY,
      decisions: previous?.value.decisions ?? [],
    }
    while (!deposed.signal.aborted) {
      try {
        state = await check(ctx, input, deps, lock, state, deposed.signal)
      } catch (err) {
        if (isUserError(err, 'CONFLICT')) {
          deps.report({type: 'deposed', reason: errorMessage(err)})
          break
        }
        // A failed check (etcd briefly away, a node unreachable) is retried at the next interval: level-based, nothing is lost.
        deps.report({type: 'error', message: `check failed: ${err instanceof Error ? err.message.replace(/\s+/g, ' ').slice(0, 500) : String(err)}`})
      }
      await deps.sleep(input.intervalMs, deposed.signal).catch(() => undefined)
    }
  } finally {
    signal.removeEventListener('abort', onAbort)
    await lock.release().catch(() => undefined)
  }
}

/**
 * check is one reconcile step: observe, decide, record, act, record the outcome. Returns the
 * new state. An apply refused with CONFLICT is followed at once by a fresh observation and
 * decision, up to CONFLICT_ATTEMPTS in all (see there). A refused plan's bytes and cool-downs
 * are not counted, since nothing of it ran (nor those of a plan deferred to a human who took
 * the executor lock first). Throws UserError(CONFLICT) only when this autopilot's own fenced
 * writes fail (it lost its leadership).
 */
async function check(ctx: ServiceContext, input: AutopilotInput, deps: AutopilotDeps, lock: HeldLock, state: AutopilotState, signal: AbortSignal): Promise<AutopilotState> {
  // The autopilot outlives executors: it bounds the census deltas one that died left unfolded.
  await foldCensusIfDue(ctx)
  for (let attempt = 1; ; attempt++) {
    const r = await attemptOnce(ctx, input, deps, lock, state, signal, attempt)
    if (!r.again || attempt >= CONFLICT_ATTEMPTS || signal.aborted) return r.state
    state = r.state
  }
}

/**
 * attemptOnce observes, decides and acts once; `again` says the apply was refused with CONFLICT
 * and the check should observe again at once. When nothing of the plan ran (any refusal) the
 * state keeps the history from before it.
 */
async function attemptOnce(ctx: ServiceContext, input: AutopilotInput, deps: AutopilotDeps, lock: HeldLock, state: AutopilotState, signal: AbortSignal, attempt: number): Promise<{state: AutopilotState; again: boolean}> {
  const obs = await observe(ctx, input, deps.now())
  const step = decide(obs, state.history, input.policy)
  const d = step.decision
  input.metrics?.observe(d.kind, step.underReplicated, step.imbalance, obs.now)
  const planId = 'plan' in d ? d.plan.id : null
  const last = state.decisions.at(-1)
  const repeated = last !== undefined && last.kind === d.kind && sameReason(last.reason, d.reason) && planId === null
  if (!repeated) deps.report({type: 'decision', kind: d.kind, reason: d.reason, plan: planId})
  const record: DecisionRecord = {at: new Date(obs.now).toISOString(), kind: d.kind, reason: d.reason, plan: planId, outcome: null}
  let next = withDecision(state, step.history, step.underReplicated, record, repeated, obs.now, input)
  await saveState(ctx, lock, next)
  if (d.kind === 'idle' || d.kind === 'wait') return {state: next, again: false}
  let refused: RefusalKind | null = null
  const outcome = await act(ctx, input, deps, lock, d, signal).catch((err: unknown) => {
    if (err instanceof ApplyRefused) {
      refused = err.kind
      return refusalOutcome(err, attempt, input.intervalMs)
    }
    if (isUserError(err, 'CONFLICT')) throw err
    return `failed: ${errorMessage(err)}`
  })
  deps.report({type: 'outcome', kind: d.kind, plan: planId, outcome})
  // Nothing of a refused (or deferred) plan ran: its bytes and cool-downs are not spent (the re-plan would
  // otherwise find the shards it must move pinned, and the budget shrunk by a plan that did nothing).
  const history = refused ? {...next.history, spent: state.history.spent, movedAt: state.history.movedAt, aboveSince: state.history.aboveSince ?? next.history.aboveSince} : next.history
  next = {...next, history, decisions: next.decisions.map((r) => (r === record ? {...r, outcome} : r))}
  await saveState(ctx, lock, next)
  // A held lock is deferred to (the next check waits for its holder), etcd trouble taking it waits
  // for the next check too; a CONFLICT refusal of the plan is looked at again now.
  return {state: next, again: refused === 'map-changed' || refused === 'unfinished-moves'}
}

/** refusalOutcome is the one-line outcome of a refused apply: what refused it, that nothing of it ran, and what the autopilot does next. */
function refusalOutcome(err: ApplyRefused, attempt: number, intervalMs: number): string {
  const nextCheck = `next check in ${Math.round(intervalMs / 1000)}s`
  switch (err.kind) {
    case 'lock-held':
      return `deferred: ${err.message}; nothing of it ran; the next check waits for that holder`
    case 'lock-lapsed':
      return `failed: could not take the executor lock (${err.message}); nothing of it ran; ${nextCheck}`
    case 'lease-lost-unchanged':
      return `failed: the executor lost its lease on the executor lock before it split or recorded anything of the plan (${err.message}); nothing of it ran; ${nextCheck}`
    case 'failed-unchanged':
      return `failed: ${err.message}; nothing of it ran; ${nextCheck}`
    case 'stopped-unchanged':
      return 'stopped before it split or recorded anything (the autopilot is stopping); nothing of it ran'
    case 'unfinished-moves':
      // decide() resumes unfinished moves before it plans anything: observing again runs them (or waits, naming why).
      return attempt < CONFLICT_ATTEMPTS
        ? `refused (CONFLICT): ${err.message}; nothing of this plan ran; resuming those moves first (re-checking now), then planning afresh from the map they leave`
        : `failed: refused with CONFLICT ${attempt} times in a row; last: ${err.message}; nothing of this plan ran; ${nextCheck} (way out: ${err.hint ?? 'finish or cancel those moves'})`
    case 'map-changed':
      return attempt < CONFLICT_ATTEMPTS
        ? `refused (CONFLICT): ${err.message}; re-planning now (attempt ${attempt} of ${CONFLICT_ATTEMPTS})`
        : `failed: refused with CONFLICT ${attempt} times in a row (the shard map kept changing under the executor: a writer ignoring its lock?); last: ${err.message}; ${nextCheck}`
  }
}

async function observe(ctx: ServiceContext, input: AutopilotInput, now: number): Promise<Observation> {
  const [snapshot, moves, executor, control, recordings] = await Promise.all([readSnapshot(ctx), listMoves(ctx), ctx.store.get(ctx.keys.executorLock), readAutopilotControl(ctx), readRecordings(ctx)])
  const holder = executor ? (parseLockHolder(executor.value)?.holder ?? 'an unreadable holder') : null
  // Moves a killed apply confirmed but did not record are unfinished too: a resume records and runs them (moveRecording.ts).
  const unrecorded = recordings.reduce((n, r) => n + r.named - r.recorded, 0)
  return {
    now,
    snapshot,
    unfinishedMoves: moves.filter((m) => !isTerminal(m.value.phase)).length + unrecorded,
    executorHolder: holder,
    paused: control.paused,
    inWindow: input.window ? inWindow(input.window, new Date(now)) : true,
    // Masters a move warned may have lost keys: no plan moves onto or off them until `moves ack` (decide.ts).
    heldMasters: moves.flatMap((m) => lossWarnings(m.value).flatMap((w) => {
      const node = warningNode(w)
      return node === null ? [] : [{node, move: m.value.id}]
    })),
  }
}

/** act carries out a heal, rebalance or resume decision and says how it went, in one line. */
async function act(ctx: ServiceContext, input: AutopilotInput, deps: AutopilotDeps, lock: HeldLock, d: Exclude<Decision, {kind: 'idle' | 'wait'}>, signal: AbortSignal): Promise<string> {
  const applyDeps: ApplyDeps = {now: deps.now, sleep: deps.sleep, emit: (event) => deps.report({type: 'executor', event}), ...(deps.effects ? {effects: deps.effects} : {}), ...(deps.heldLocks ? {heldLocks: deps.heldLocks} : {})}
  // The executor's CONFLICTs are not the autopilot's own (its lost leadership). Only a refusal
  // (PlanChangedError, UnknownNodeError, UnfinishedConflictError) changed nothing and is looked at
  // again at once; any other came after the apply may have split or recorded moves (its lease lapsed while
  // recording: some recorded, the rest listed for the next executor), so the plan counts as
  // started and the next check resumes it. Likewise the executor lock: held by someone else
  // when the apply starts (LockHeldError), or its lease lapsed as it was taken (LockLapsedError),
  // nothing ran; its lease lost mid-run (LockLostError, or the run stopped with leaseLost),
  // moves ran, and no human is involved, unless the run says it stopped `unchanged` (before its
  // first split or record), when nothing ran either.
  const leaseLost = (detail: string) => `stopped: the executor lost its lease on the executor lock mid-run (${detail}); the next check resumes the unfinished moves once the executor lock is free`
  const run = async (apply: ApplyInput): Promise<string> => {
    let r: ApplyResult
    try {
      r = await executePlan(ctx, apply, applyDeps, signal)
    } catch (err) {
      if (err instanceof PlanChangedError || err instanceof UnknownNodeError) throw ApplyRefused.of('map-changed', err)
      if (err instanceof UnfinishedConflictError) throw ApplyRefused.of('unfinished-moves', err)
      if (err instanceof LockHeldError) throw ApplyRefused.of('lock-held', err)
      if (err instanceof LockLapsedError) throw ApplyRefused.of('lock-lapsed', err)
      // Fenced out (or etcd trouble) before a move of the plan was recorded or listed: nothing of it ran either.
      if (apply.plan && (await recordedNothingOf(ctx, apply.plan).catch(() => false))) {
        throw new ApplyRefused(err instanceof LockLostError || isUserError(err, 'CONFLICT') ? 'lease-lost-unchanged' : 'failed-unchanged', errorMessage(err))
      }
      if (err instanceof LockLostError) return leaseLost(err.message)
      if (isUserError(err, 'CONFLICT')) throw new Error(`the executor stopped: ${err.message}`, {cause: err})
      throw err
    }
    // Stopped before it split or recorded anything (its lease lost, or the autopilot stopping): nothing of it ran either.
    if (r.unchanged) throw new ApplyRefused(r.leaseLost ? 'lease-lost-unchanged' : 'stopped-unchanged', 'stopped while it took the lock or preflighted')
    return r.leaseLost ? leaseLost(summarise(r)) : summarise(r)
  }
  const base: Omit<ApplyInput, 'plan'> = {
    limits: input.limits,
    throttle: d.kind === 'rebalance' ? input.throttle : input.healThrottle,
    nodeThrottle: input.nodeThrottle,
    window: input.window,
    options: input.options,
    confirm: async () => true,
    holder: `autopilot ${input.id}`,
  }
  if (d.kind === 'resume') {
    if (input.dryRun) return 'dry run: left the recorded moves alone'
    return run(base)
  }
  const plan: Plan = input.signKey ? signPlan(d.plan, input.signKey) : d.plan
  const file = join(input.plansDir, `${plan.id}.json`)
  writePlanFile(plan, file)
  if (input.dryRun) return `dry run: plan written to ${file}, not applied`
  if (d.kind === 'heal') for (const node of d.markDraining) await markDraining(ctx, lock, node)
  return `${await run({...base, plan})}; plan ${file}`
}

/**
 * recordedNothingOf: `plan` splits nothing and none of its moves is recorded or listed for
 * recording (moveRecording.ts), so an apply of it that failed ran nothing of it, and no later
 * executor will. A plan with splits is taken to have run (they come before the records).
 */
async function recordedNothingOf(ctx: ServiceContext, plan: Plan): Promise<boolean> {
  if (plan.actions.some((a) => a.kind === 'split')) return false
  const [moves, lists] = await Promise.all([listMoves(ctx), readRecordings(ctx)])
  return !moves.some((m) => m.value.plan === plan.id) && !lists.some((r) => r.plan === plan.id)
}

/**
 * markDraining sets node `id` draining in one transaction fenced on the leadership lock (and
 * the node's revision), so no plan places a replica on it again and the planner empties it.
 * Throws UserError(CONFLICT) when leadership was lost (or the node changed meanwhile: the
 * next check re-reads it).
 */
async function markDraining(ctx: ServiceContext, lock: HeldLock, id: string): Promise<void> {
  const node = await getNode(ctx, id)
  if (node.value.state === 'draining') return
  const value = NodeSchema.parse({...node.value, state: 'draining'})
  const rev = await ctx.store.commit({compares: [lock.fence, {key: ctx.keys.node(id), modRevision: node.modRevision}], puts: [{key: ctx.keys.node(id), value: JSON.stringify(value)}]})
  if (rev === undefined) throw new UserError('CONFLICT', `could not mark node ${id} draining: the autopilot lost its leadership or the node changed concurrently`, 'the next check re-reads the cluster')
}

/** saveState writes `autopilot/state`, fenced on the leadership lock. Throws UserError(CONFLICT) when leadership was lost. */
async function saveState(ctx: ServiceContext, lock: HeldLock, state: AutopilotState): Promise<void> {
  const key = autopilotKeys(ctx.keys.prefix).state
  const rev = await ctx.store.commit({compares: [lock.fence], puts: [{key, value: JSON.stringify(AutopilotStateSchema.parse(state))}]})
  if (rev === undefined) throw new UserError('CONFLICT', 'the autopilot lost its leadership: its state write was fenced off', 'another autopilot leads now; this one stands by')
}

/** withDecision records `record`; a repeat of the last decision replaces it (fresh figures) instead of filling the list. */
function withDecision(state: AutopilotState, history: AutopilotHistory, underReplicated: number, record: DecisionRecord, repeated: boolean, now: number, input: AutopilotInput): AutopilotState {
  return {
    ...state,
    updatedAt: new Date(now).toISOString(),
    nextCheckAt: new Date(now + input.intervalMs).toISOString(),
    dryRun: input.dryRun,
    underReplicated,
    history,
    decisions: [...(repeated ? state.decisions.slice(0, -1) : state.decisions), record].slice(-MAX_DECISIONS),
  }
}

/** sameReason: two reasons that differ only in elapsed times (`down for 3s`) are one decision repeated, not a new one. */
function sameReason(a: string, b: string): boolean {
  const strip = (s: string) => s.replace(/\d+(\.\d+)?[sm]\b/g, '#')
  return strip(a) === strip(b)
}

function summarise(r: ApplyResult): string {
  const counts = Object.entries(r.counts).map(([phase, n]) => `${n} ${phase}`)
  return `${counts.length ? counts.join(', ') : 'no moves'}${r.stopped ? ' (stopped)' : ''}, ${r.bytesCopied} bytes copied in ${(r.durationMs / 1000).toFixed(1)}s`
}
