import {liveVoters} from '../cluster/replicaTally.js'
import {isUserError} from '../errors/errors.js'
import {sealPlan, type Plan, type PlanBody} from '../model/plan.js'
import {type ClusterSnapshot} from '../model/snapshot.js'
import {type PlanOptionsInput} from '../planner/options.js'
import {planRebalance} from '../planner/planRebalance.js'
import {boundText, ratioText} from '../planner/ratioText.js'
import {type AutopilotHistory} from './autopilotState.js'
import {heldNodes, heldNote} from './heldMasters.js'

/** HOUR_MS is the span of the `--max-bytes-per-hour` budget. */
export const HOUR_MS = 3_600_000

/** AutopilotPolicy is what the operator set on `shardctl autopilot` (times in ms). */
export interface AutopilotPolicy {
  /** deadAfterMs: a node down longer than this is gone; its replicas are re-created elsewhere. */
  deadAfterMs: number
  /** rebalanceAbove: the high-water mark of the imbalance (largest utilisation / mean) that starts a rebalance. */
  rebalanceAbove: number
  /** forMs: how long the imbalance must stay above the mark before a rebalance. */
  forMs: number
  /** coolDownMs: a shard moved by the autopilot is not moved again for this long. */
  coolDownMs: number
  /** maxBytesPerHour bounds the bytes of the plans started in any hour; null = no bound. */
  maxBytesPerHour: number | null
  /** planOptions are the planner options of every plan (the normal target, weights, limits). */
  planOptions: PlanOptionsInput
}

/** Observation is what the autopilot saw at one tick (read from etcd by the loop). */
export interface Observation {
  now: number
  snapshot: ClusterSnapshot
  /** unfinishedMoves counts recorded moves that are not terminal (an executor died, or is running). */
  unfinishedMoves: number
  /** executorHolder names who holds the executor lock now, null when it is free. */
  executorHolder: string | null
  /** paused is the autopilot's own pause switch (`autopilot pause`). */
  paused: boolean
  /** inWindow is false outside `--window`. */
  inWindow: boolean
  /**
   * heldMasters are the nodes a move's warning of possible data loss names that no operator has
   * acknowledged yet (a redis master restarted without appendonly mid-move: model/move.ts
   * lossWarnings), each with the move that names it. Absent: none.
   */
  heldMasters?: readonly {node: string; move: string}[]
}

/** Decision is what one reconcile step chose, with a reason an operator can read. */
export type Decision =
  | {kind: 'idle'; reason: string}
  | {kind: 'wait'; reason: string}
  | {kind: 'resume'; reason: string}
  | {kind: 'heal'; reason: string; markDraining: string[]; plan: Plan}
  | {kind: 'rebalance'; reason: string; plan: Plan}

/** Step is a decision, the history to remember after it, and the figures it saw. */
export interface Step {
  decision: Decision
  history: AutopilotHistory
  /** underReplicated counts shards with fewer voters on live nodes than the replication factor. */
  underReplicated: number
  imbalance: number | null
}

/**
 * decide is the autopilot's whole judgement, pure (no I/O, no clock: `obs.now` is the time):
 * given what it observes, what it remembers and the operator's policy, it returns what to do
 * now and why, and what to remember. In priority order:
 *
 * 1. defer: paused, or the executor lock is held (a human `apply`, or an executor still
 *    running) → `wait`;
 * 2. finish recorded moves nobody runs (a dead leader's) → `resume` (inside the window);
 * 3. outside the maintenance window → `wait`;
 * 4. heal: nodes down longer than `deadAfterMs`, and draining nodes, that still hold replicas
 *    → `heal` with a drain plan (dead nodes marked draining first), its moves ordered most
 *    at risk first (fewest live replicas), capped by the bytes budget;
 * 5. while a node that holds replicas is down but not yet dead, nothing else happens (it may
 *    come back, and its load is unknown);
 * 6. rebalance: when the planner's imbalance has stayed above `rebalanceAbove` for `forMs`,
 *    a normal plan (down to the normal target: hysteresis) with every shard moved within
 *    `coolDownMs` pinned where it is → `rebalance`.
 *
 * A node named by an unacknowledged warning of possible data loss (`heldMasters`: a redis master
 * that restarted without persistence while a move used it) takes part in neither heal nor
 * rebalance until `shardctl moves ack`: no move is planned onto it (cordoned in the planner's
 * snapshot) nor off it (its replicas pinned), and every reason from step 4 on says so. An
 * operator checking which keys it lost must not have them shuffled away meanwhile, nor more
 * data put on a master that loses what it holds on a restart.
 *
 * Never throws for cluster state (the planner's unplaceable replicas, or no node left to hold
 * data, become reasons); throws only what the planner throws for invalid options.
 */
export function decide(obs: Observation, before: AutopilotHistory, policy: AutopilotPolicy): Step {
  const {snapshot} = obs
  const history = remember(obs, before, policy)
  const alive = new Set(snapshot.nodes.filter((n) => n.alive).map((n) => n.id))
  const holding = replicaCounts(snapshot)
  const underReplicated = countUnderReplicated(snapshot, alive)
  const step = (decision: Decision, h: AutopilotHistory = history, imbalance: number | null = null): Step => ({decision, history: h, underReplicated, imbalance})

  if (obs.paused) return step({kind: 'wait', reason: 'paused by `shardctl autopilot pause`; `autopilot resume` lets it act again'})
  if (obs.executorHolder !== null) return step({kind: 'wait', reason: `the executor lock is held by ${obs.executorHolder}: deferring until it finishes`})
  if (obs.unfinishedMoves > 0) {
    if (!obs.inWindow) return step({kind: 'wait', reason: `${obs.unfinishedMoves} recorded move(s) unfinished, outside the maintenance window`})
    return step({kind: 'resume', reason: `${obs.unfinishedMoves} recorded move(s) unfinished and no executor runs them: resuming`})
  }
  if (!obs.inWindow) return step({kind: 'wait', reason: 'outside the maintenance window'})
  return planOrIdle(obs, history, policy, holding, alive, underReplicated, (decision, h, imbalance) => step({...decision, reason: withHeldNote(decision.reason, obs, snapshot)}, h, imbalance))
}

/** planOrIdle is decide's steps 4 to 6 (heal, wait for a node down, rebalance), with nodes named by a data-loss warning held out of every plan (holdBack). */
function planOrIdle(obs: Observation, history: AutopilotHistory, policy: AutopilotPolicy, holding: ReadonlyMap<string, number>, alive: ReadonlySet<string>, underReplicated: number, step: (decision: Decision, h?: AutopilotHistory, imbalance?: number | null) => Step): Step {
  const now = obs.now
  const heldBack = heldNodes(obs.heldMasters ?? [])
  const snapshot = holdBack(obs.snapshot, heldBack)
  const budget = remainingBudget(history, policy, now)
  const dead = snapshot.nodes.filter((n) => !heldBack.has(n.id) && !n.alive && (holding.get(n.id) ?? 0) > 0 && now - (history.downSince[n.id] ?? now) >= policy.deadAfterMs)
  const draining = snapshot.nodes.filter((n) => !heldBack.has(n.id) && n.state === 'draining' && (holding.get(n.id) ?? 0) > 0)
  if (dead.length > 0 || draining.length > 0) {
    if (budget !== null && budget <= 0) return step({kind: 'wait', reason: `nodes to empty, but the --max-bytes-per-hour budget is spent (${spentInHour(history, now)} bytes in the last hour)`})
    const markDraining = dead.filter((n) => n.state !== 'draining').map((n) => n.id)
    const marked: ClusterSnapshot = {...snapshot, nodes: snapshot.nodes.map((n) => (markDraining.includes(n.id) ? {...n, state: 'draining' as const} : n))}
    let raw: Plan
    try {
      raw = planRebalance(marked, {...policy.planOptions, ...cappedBytes(policy.planOptions, budget), drainOnly: true}, planMeta(snapshot, 'heal', now), {baseline: false})
    } catch (err) {
      // Every node draining or dead: nothing can hold the data; say so and keep watching.
      if (isUserError(err, 'UNREACHABLE_TARGET')) return step({kind: 'idle', reason: `cannot heal now: ${(err as Error).message}`})
      throw err
    }
    const plan = mostAtRiskFirst(raw, snapshot, alive)
    const why = [
      ...dead.map((n) => `node ${n.id} down for ${seconds(now - history.downSince[n.id]!)} (dead after ${seconds(policy.deadAfterMs)}), ${holding.get(n.id)} replica(s)`),
      ...draining.filter((n) => !dead.includes(n)).map((n) => `node ${n.id} is draining, ${holding.get(n.id)} replica(s)`),
    ].join('; ')
    if (plan.summary.moves === 0) {
      const unplaceable = plan.summary.unplaceable ?? []
      const stuck = unplaceable.length > 0 ? `${unplaceable.length} replica(s) fit nowhere: ${unplaceable[0]!.reason}` : plan.summary.stopDetail
      return step({kind: budget !== null && plan.summary.stopReason === 'max-bytes' ? 'wait' : 'idle', reason: `${why}; cannot heal now: ${stuck}`})
    }
    const spent = {...history, spent: [...history.spent, {at: now, bytes: plan.summary.bytesToMove}], movedAt: {...history.movedAt, ...movedShards(plan, now)}}
    return step({kind: 'heal', reason: `${why}: re-creating ${plan.summary.moves} replica(s), most at risk first (${underReplicated} shard(s) under-replicated)`, markDraining, plan}, spent)
  }

  const downHolding = snapshot.nodes.filter((n) => !n.alive && (holding.get(n.id) ?? 0) > 0)
  if (downHolding.length > 0) {
    const n = downHolding[0]!
    return step({kind: 'idle', reason: `node ${n.id} is down for ${seconds(now - history.downSince[n.id]!)}; left alone until it has been down for ${seconds(policy.deadAfterMs)}`}, {...history, aboveSince: null})
  }

  const pins = Object.keys(history.movedAt).flatMap((id) => {
    const shard = snapshot.shards.find((s) => String(s.id) === id)
    return shard ? shard.replicas.map((r) => ({kind: 'pin' as const, shard: shard.id, node: r.node})) : []
  })
  const cooled: ClusterSnapshot = {...snapshot, constraints: [...snapshot.constraints, ...pins]}
  const plan = planRebalance(cooled, {...policy.planOptions, ...cappedBytes(policy.planOptions, budget)}, planMeta(snapshot, 'rebalance', now), {baseline: false})
  const imbalance = plan.summary.imbalanceBefore
  // Figures get the digits that tell them from the mark they are compared with ("1.2004x above 1.20x", not "1.20x above 1.20x").
  const mark = boundText(policy.rebalanceAbove)
  const figure = `imbalance ${ratioText(imbalance, [policy.rebalanceAbove])}x`
  if (!(imbalance > policy.rebalanceAbove)) return step({kind: 'idle', reason: `${figure} is not above ${mark}x`}, {...history, aboveSince: null}, imbalance)
  const aboveSince = history.aboveSince ?? now
  const held = {...history, aboveSince}
  if (now - aboveSince < policy.forMs) return step({kind: 'idle', reason: `${figure} above ${mark}x for ${seconds(now - aboveSince)} of ${seconds(policy.forMs)}`}, held, imbalance)
  if (budget !== null && budget <= 0) return step({kind: 'wait', reason: `${figure} needs a rebalance, but the --max-bytes-per-hour budget is spent`}, held, imbalance)
  if (plan.summary.moves === 0) {
    const cooling = pins.length > 0 ? ` (${Object.keys(history.movedAt).length} recently moved shard(s) cooling down)` : ''
    return step({kind: 'idle', reason: `${figure} above ${mark}x, but the planner finds no move: ${plan.summary.stopDetail}${cooling}`}, held, imbalance)
  }
  const next = {...history, aboveSince: null, spent: [...history.spent, {at: now, bytes: plan.summary.bytesToMove}], movedAt: {...history.movedAt, ...movedShards(plan, now)}}
  return step({kind: 'rebalance', reason: `${figure} above ${mark}x for ${seconds(now - aboveSince)}: ${plan.summary.moves} move(s) to ${ratioText(plan.summary.imbalanceAfter, [plan.summary.target])}x (target ${boundText(plan.summary.target)}x)`, plan}, next, imbalance)
}

/**
 * holdBack is `snapshot` as the planner must see it while `held` nodes wait for an operator:
 * each one cordoned (nothing is placed on it; a draining one stays draining) and every replica
 * on it pinned there (nothing leaves it).
 */
export function holdBack(snapshot: ClusterSnapshot, held: ReadonlyMap<string, unknown>): ClusterSnapshot {
  if (held.size === 0) return snapshot
  const pins = snapshot.shards.flatMap((s) => s.replicas.filter((r) => held.has(r.node)).map((r) => ({kind: 'pin' as const, shard: s.id, node: r.node})))
  return {...snapshot, nodes: snapshot.nodes.map((n) => (held.has(n.id) && n.state === 'active' ? {...n, state: 'cordoned' as const} : n)), constraints: [...snapshot.constraints, ...pins]}
}

/** withHeldNote is `reason` followed by the nodes held out of planning by a data-loss warning and the way out (heldMasters.ts heldNote), when any is in the cluster. */
function withHeldNote(reason: string, obs: Observation, snapshot: ClusterSnapshot): string {
  const note = heldNote(heldNodes(obs.heldMasters ?? []), new Set(snapshot.nodes.map((n) => n.id)))
  return note === null ? reason : `${reason}; ${note}`
}

/** remember updates the history with what was observed: down-since times, expired cool-downs and budget entries. */
function remember(obs: Observation, h: AutopilotHistory, policy: AutopilotPolicy): AutopilotHistory {
  const downSince: Record<string, number> = {}
  for (const n of obs.snapshot.nodes) if (!n.alive) downSince[n.id] = h.downSince[n.id] ?? obs.now
  const movedAt = Object.fromEntries(Object.entries(h.movedAt).filter(([, at]) => obs.now - at < policy.coolDownMs))
  const spent = h.spent.filter((s) => obs.now - s.at < HOUR_MS)
  return {downSince, aboveSince: h.aboveSince, movedAt, spent}
}

/** countUnderReplicated counts shards with fewer voters on live nodes than the cluster's replication factor. */
export function countUnderReplicated(snapshot: ClusterSnapshot, alive: ReadonlySet<string>): number {
  return snapshot.shards.filter((s) => liveVoters(s.replicas, alive) < snapshot.cluster.rf).length
}

function replicaCounts(snapshot: ClusterSnapshot): Map<string, number> {
  const m = new Map<string, number>()
  for (const s of snapshot.shards) for (const r of s.replicas) m.set(r.node, (m.get(r.node) ?? 0) + 1)
  return m
}

function spentInHour(h: AutopilotHistory, now: number): number {
  return h.spent.filter((s) => now - s.at < HOUR_MS).reduce((a, s) => a + s.bytes, 0)
}

/** remainingBudget is what the bytes-per-hour budget still allows now; null when there is no budget. */
function remainingBudget(h: AutopilotHistory, policy: AutopilotPolicy, now: number): number | null {
  return policy.maxBytesPerHour === null ? null : policy.maxBytesPerHour - spentInHour(h, now)
}

function cappedBytes(options: PlanOptionsInput, budget: number | null): PlanOptionsInput {
  if (budget === null) return {}
  return {maxBytes: Math.max(0, Math.min(options.maxBytes ?? Infinity, budget))}
}

function movedShards(plan: Plan, now: number): Record<string, number> {
  return Object.fromEntries(plan.actions.map((a) => [String(a.shard), now]))
}

/**
 * mostAtRiskFirst re-orders a plan's actions so shards with the fewest live voters come first
 * (a stable sort: two actions on one shard keep their order, and with it the epochs the plan
 * predicts), and re-seals it.
 */
export function mostAtRiskFirst(plan: Plan, snapshot: ClusterSnapshot, alive: ReadonlySet<string>): Plan {
  const risk = new Map(snapshot.shards.map((s) => [s.id, liveVoters(s.replicas, alive)]))
  const actions = plan.actions.map((a, i) => ({a, i})).sort((x, y) => (risk.get(x.a.shard) ?? 0) - (risk.get(y.a.shard) ?? 0) || x.i - y.i)
  const {hash: _hash, signature: _signature, ...body} = plan
  return sealPlan({...(body satisfies PlanBody), actions: actions.map((x) => x.a)})
}

function planMeta(snapshot: ClusterSnapshot, kind: 'heal' | 'rebalance', now: number): {id: string; createdAt: string} {
  const at = new Date(now)
  return {id: `${snapshot.cluster.name}-autopilot-${kind}-${at.toISOString().replace(/[-:.]/g, '')}`, createdAt: at.toISOString()}
}

function seconds(ms: number): string {
  const s = Math.round(ms / 1000)
  return s < 120 ? `${s}s` : `${Math.round(s / 60)}m`
}
