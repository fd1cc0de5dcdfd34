import {UserError} from '../errors/errors.js'
import {type Move, type MovePhase} from '../model/move.js'
import {type NodeState} from '../model/node.js'
import {type Plan, type PlanAction, verifyPlanHash} from '../model/plan.js'
import {type Shard} from '../model/shard.js'
import {shardMapFingerprint} from '../model/snapshot.js'
import {splitMade} from './splitShard.js'
import {closedDestination} from '../model/closedDestination.js'

/** ActionVerdict says whether one plan action can still run, and why not. */
export interface ActionVerdict {
  index: number
  action: PlanAction
  ok: boolean
  reason?: string
}

/** Preflight is what `apply` shows before asking for confirmation. */
export interface Preflight {
  planId: string
  cluster: string
  /** fingerprintMatches: the shard map is exactly as when the plan was made. */
  fingerprintMatches: boolean
  verdicts: ActionVerdict[]
  runnable: number
  stale: number
}

/**
 * checkPlanIntegrity refuses a plan whose hash does not match its body (tampered or hand
 * edited) or that belongs to another cluster. Throws UserError(BAD_INPUT).
 */
export function checkPlanIntegrity(plan: Plan, cluster: string): void {
  if (!verifyPlanHash(plan)) throw new UserError('BAD_INPUT', `plan ${plan.id} has been modified: its sha256 does not match its body`, 'recompute it with `shardctl plan`; never edit plan files by hand')
  if (plan.cluster !== cluster) throw new UserError('BAD_INPUT', `plan ${plan.id} is for cluster "${plan.cluster}", not "${cluster}"`, `pass --cluster ${plan.cluster}`)
}

/**
 * refuseOtherIncarnation (pure) throws UserError(BAD_INPUT, exit 2, nothing changed) when `plan`
 * was made from another incarnation of its cluster than `meta` is: `cluster init --force` since
 * (epochs start again at 1, so an old plan's epoch checks would pass and its moves run on a
 * cluster it never saw), or another cluster of the same name (staging and production both
 * `default`). A plan without `createdFrom.uid` (its cluster had none) cannot be told apart.
 */
export function refuseOtherIncarnation(plan: Pick<Plan, 'id' | 'cluster' | 'createdFrom'>, meta: {uid?: string | undefined}): void {
  const made = plan.createdFrom.uid
  if (made === undefined || made === meta.uid) return
  throw new UserError('BAD_INPUT', `plan ${plan.id} was made from another incarnation of cluster "${plan.cluster}" (uid ${made}; this one is ${meta.uid === undefined ? 'without a uid' : `uid ${meta.uid}`}): the cluster was initialised again since, or is another cluster of that name; nothing was changed`, 'compute a fresh plan of this cluster with `shardctl plan`')
}

/**
 * refuseAllStale (pure) throws UserError(CONFLICT, exit 7) when not one of a plan's actions can
 * still run (`plan verify` exits 7 for it too): `apply` would otherwise record every action
 * `skipped` and end "Finished", exit 0, having run nothing of what was reviewed (a plan applied
 * after the cluster moved past it, or replayed). A plan with no actions is not refused.
 */
export function refuseAllStale(p: Pick<Preflight, 'planId' | 'verdicts' | 'runnable'>): void {
  if (p.verdicts.length === 0 || p.runnable > 0) return
  const first = p.verdicts[0]!
  throw new UserError('CONFLICT', `every one of plan ${p.planId}'s ${p.verdicts.length} action(s) is stale (first: action ${first.index + 1}, shard ${first.action.shard}: ${first.reason ?? 'stale'}); nothing was recorded or changed`, 'the cluster moved past the plan: compute a fresh plan with `shardctl plan` (`plan verify` lists every stale action)')
}

/**
 * StalePolicy says what `apply` does with a plan some of whose actions are stale: `skip` them
 * and run the rest, or `refuse` the whole plan. A signed plan (`--require-signature`) is refused
 * by default: its signer approved it whole, and its later actions were planned counting on the
 * earlier ones (a plan that empties n1 into n3 and then fills n1 would overfill n1 with the
 * emptying skipped).
 */
export type StalePolicy = 'skip' | 'refuse'

/** stalePolicyOf (pure) is `apply`'s policy: the one asked for (`--stale`), else refuse for a signature-checked plan and skip for any other. */
export function stalePolicyOf(asked: string | undefined, signatureRequired: boolean): StalePolicy {
  if (asked === 'skip' || asked === 'refuse') return asked
  if (asked !== undefined) throw new UserError('BAD_INPUT', `--stale ${asked}: not a policy`, 'pass --stale skip (run the rest) or --stale refuse (the whole plan or nothing)')
  return signatureRequired ? 'refuse' : 'skip'
}

/**
 * refuseAnyStale (pure) throws UserError(CONFLICT, exit 7, as `plan verify` exits for it) when
 * any of a plan's actions is stale, naming how many and the first: `apply --stale refuse`, the
 * default under `--require-signature`. Called before anything is recorded, so it changes nothing.
 */
export function refuseAnyStale(p: Pick<Preflight, 'planId' | 'verdicts'>): void {
  const stale = p.verdicts.filter((v) => !v.ok)
  if (stale.length === 0) return
  const first = stale[0]!
  throw new UserError('CONFLICT', `${stale.length} of plan ${p.planId}'s ${p.verdicts.length} action(s) are stale (first: action ${first.index + 1}, shard ${first.action.shard}: ${first.reason ?? 'stale'}), and --stale refuse runs a plan whole or not at all; nothing was recorded or changed`, 'compute (and sign) a fresh plan with `shardctl plan`, or pass --stale skip to run the rest (`plan verify` lists every stale action)')
}

/**
 * UnknownNodeError is refuseUnknownNodes' refusal (CONFLICT, exit 7): thrown before anything
 * was split or recorded. Its own class because `apply` throws other CONFLICTs after it changed
 * the cluster, and a caller that plans by itself (the autopilot, whose plan named a node
 * removed since it looked) must tell them apart: nothing of the plan ran, and planning again
 * from the nodes there are now may pass.
 */
export class UnknownNodeError extends UserError {
  constructor(message: string, hint: string) {
    super('CONFLICT', message, hint)
  }
}

/**
 * refuseUnknownNodes (pure) throws UnknownNodeError (CONFLICT, exit 7, as `plan verify` calls
 * such an action stale) when a move of `plan` names a node the cluster does not have: a plan
 * made for another cluster of the same name, or before the node was removed. Each of its actions
 * would otherwise be skipped one by one and `apply` end "finished", exit 0, having run
 * nothing the plan meant; refused before anything is recorded, it changes nothing.
 */
export function refuseUnknownNodes(plan: Pick<Plan, 'id' | 'cluster' | 'actions'>, nodeIds: ReadonlySet<string>): void {
  for (const [i, a] of plan.actions.entries()) {
    if (a.kind !== 'move') continue
    const unknown = [a.from, a.to].find((n) => !nodeIds.has(n))
    if (unknown === undefined) continue
    throw new UnknownNodeError(`plan ${plan.id} names node "${unknown}", which cluster "${plan.cluster}" does not have (action ${i + 1}: move shard ${a.shard} ${a.from} -> ${a.to}); nothing was changed`, 'it was made for another cluster of that name or before the node was removed: compute a fresh plan with `shardctl plan`')
  }
}

/**
 * PreflightContext is what, beside the shard map and nodes, decides whether an action can
 * still run: the cluster's next free shard id (a split creates exactly that id, as
 * decideSplit requires) and the unfinished moves of other plans (their shards are busy).
 */
export interface PreflightContext {
  /** nextShardId is the cluster meta's next free shard id; undefined skips that check. */
  nextShardId?: number
  /**
   * unfinished are the non-terminal moves recorded in etcd (this plan's are ignored). Those
   * that have started changing their shard make it busy; a `pending` or `checked` one has not,
   * and re-validates against the map when it starts, so whichever runs first wins and the
   * other is skipped with a reason (an interrupted drain's unstarted moves must not block the
   * next drain of the node).
   */
  unfinished?: readonly Pick<Move, 'id' | 'plan' | 'shard' | 'phase'>[]
  /**
   * nodeStates are the nodes' states now: a move onto a node cordoned or draining since the plan
   * was made is stale (closedDestination.ts). Absent: every node taken as active.
   */
  nodeStates?: ReadonlyMap<string, NodeState>
}

/** UNSTARTED are the phases in which a move has not changed its shard yet. */
const UNSTARTED: ReadonlySet<MovePhase> = new Set(['pending', 'checked'])

/**
 * preflightPlan (pure) checks every action against the current shard map and nodes:
 * epochs the plan expects (earlier actions of the same plan on a shard raise it by their
 * steps), replicas still in place, nodes known, a split's new id still the next free one
 * and its shard not mid-move (as applySplit will check), no move of another plan under way
 * on the shard, a move's destination not cordoned or draining (`context.nodeStates`). Stale actions are reported, not run. `apply` calls it with a map read
 * while it holds the executor lock, so the verdicts it shows are the ones that run.
 */
export function preflightPlan(plan: Plan, shards: readonly Shard[], nodeIds: ReadonlySet<string>, epochSteps: {move: number; split: number}, context: PreflightContext = {}): Preflight {
  const byId = new Map(shards.map((s) => [s.id, s]))
  const expected = new Map<number, number>()
  /** unmade maps a shard id a stale split of the plan was to create to the split's shard. */
  const unmade = new Map<number, number>()
  const busy = new Map((context.unfinished ?? []).filter((m) => m.plan !== plan.id && !UNSTARTED.has(m.phase)).map((m) => [m.shard, m]))
  /** nextId is the id the next split this preflight lets run will create (meta's, raised by each). */
  let nextId = context.nextShardId
  const verdicts: ActionVerdict[] = plan.actions.map((action, index) => {
    const shard = byId.get(action.shard)
    const plannedBase = expected.get(action.shard)
    const ok = (reason?: string): ActionVerdict => ({index, action, ok: reason === undefined, ...(reason ? {reason} : {})})
    let verdict: ActionVerdict
    // A stale split makes no parts: an action on its new id is stale too (that id may be
    // another split's shard by now, with the same epoch and replicas by chance).
    const parent = plannedBase === undefined ? unmade.get(action.shard) : undefined
    const unmadeReason = `shard ${action.shard} was to be made by the split of shard ${parent}, which will not run`
    const other = busy.get(action.shard)
    const busyReason = other && `shard ${action.shard} has an unfinished move ${other.id} (${other.phase}) of plan ${other.plan}: finish it first (\`shardctl apply --resume\`) or cancel it (\`shardctl moves cancel ${other.id}\`)`
    if (action.kind === 'split') {
      const upper = action.parts[1].shard
      if (parent !== undefined) verdict = ok(unmadeReason)
      // A piece an earlier split of this plan creates (the planner splits a hot shard's pieces
      // again) does not exist yet: its epoch is the one that split gives it.
      else if (!shard && plannedBase === undefined) verdict = ok(`shard ${action.shard} does not exist`)
      // Applied by a run that died before recording the moves: runnable, and applySplit reports it
      // already done. Its parts are in the map, so later actions on them are checked against it
      // (as applySplit and the move runner will), not against the epochs the plan gave them: the
      // map may have moved on since (another plan's split of a part, with ids of its own).
      else if (plannedBase === undefined && splitMade(action, (id) => byId.get(id))) {
        verdict = ok()
        return verdict
      } else if (busyReason) verdict = ok(busyReason)
      else if (shard && plannedBase === undefined && shard.epoch !== action.epoch) verdict = ok(`shard ${action.shard} is at epoch ${shard.epoch}, the plan expected ${action.epoch}`)
      else if (shard && plannedBase === undefined && shard.replicas.some((r) => r.role !== 'voter')) verdict = ok(`shard ${action.shard} is in the middle of a move`)
      // Another split (another plan's, applied since this plan was made) took the id this one creates:
      // the move of "that id" would move the other split's piece.
      else if (byId.has(upper)) verdict = ok(`shard id ${upper} this split would create is another shard's by now (split off since the plan was made)`)
      else if (nextId !== undefined && nextId !== upper) verdict = ok(`shard id ${upper} is no longer the next free id (next is ${nextId})`)
      else verdict = ok()
      // After a stale split, a move of its lower part is checked against the map.
      if (verdict.ok) {
        for (const p of action.parts) expected.set(p.shard, p.epoch)
        if (nextId !== undefined) nextId++
      } else unmade.set(upper, action.shard)
      return verdict
    }
    const closed = closedDestination(action.to, context.nodeStates?.get(action.to))
    if (parent !== undefined) verdict = ok(unmadeReason)
    else if (busyReason) verdict = ok(busyReason)
    else if (!nodeIds.has(action.to)) verdict = ok(`destination node "${action.to}" does not exist`)
    else if (!nodeIds.has(action.from)) verdict = ok(`source node "${action.from}" does not exist`)
    else if (closed) verdict = ok(closed)
    else if (!shard && plannedBase === undefined) verdict = ok(`shard ${action.shard} does not exist`)
    else if (shard && plannedBase === undefined && shard.epoch !== action.epoch) verdict = ok(`shard ${action.shard} is at epoch ${shard.epoch}, the plan expected ${action.epoch}`)
    else if (shard && plannedBase === undefined && !shard.replicas.some((r) => r.node === action.from && r.role === 'voter')) verdict = ok(`node "${action.from}" no longer holds shard ${action.shard}`)
    else if (shard && plannedBase === undefined && shard.replicas.some((r) => r.node === action.to)) verdict = ok(`node "${action.to}" already holds shard ${action.shard}`)
    else if (shard && plannedBase === undefined && shard.replicas.some((r) => r.role !== 'voter')) verdict = ok(`shard ${action.shard} is in the middle of another change`)
    else verdict = ok()
    expected.set(action.shard, action.epoch + epochSteps.move)
    return verdict
  })
  const runnable = verdicts.filter((v) => v.ok).length
  return {planId: plan.id, cluster: plan.cluster, fingerprintMatches: shardMapFingerprint(shards) === plan.createdFrom.fingerprint, verdicts, runnable, stale: verdicts.length - runnable}
}
