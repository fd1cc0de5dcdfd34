import {UserError} from '../errors/errors.js'
import {type Plan, type PlanAction, verifyPlanHash} from '../model/plan.js'
import {type Shard} from '../model/shard.js'
import {shardMapFingerprint} from '../model/snapshot.js'
import {splitMade} from './splitShard.js'

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
 * preflightPlan (pure) checks every action against the current shard map and nodes:
 * epochs the plan expects (earlier actions of the same plan on a shard raise it by their
 * steps), replicas still in place, nodes known. Stale actions are reported, not run.
 */
export function preflightPlan(plan: Plan, shards: readonly Shard[], nodeIds: ReadonlySet<string>, epochSteps: {move: number; split: number}): Preflight {
  const byId = new Map(shards.map((s) => [s.id, s]))
  const expected = new Map<number, number>()
  /** unmade maps a shard id a stale split of the plan was to create to the split's shard. */
  const unmade = new Map<number, number>()
  const verdicts: ActionVerdict[] = plan.actions.map((action, index) => {
    const shard = byId.get(action.shard)
    const plannedBase = expected.get(action.shard)
    const ok = (reason?: string): ActionVerdict => ({index, action, ok: reason === undefined, ...(reason ? {reason} : {})})
    let verdict: ActionVerdict
    // A stale split makes no parts: an action on its new id is stale too (that id may be
    // another split's shard by now, with the same epoch and replicas by chance).
    const parent = plannedBase === undefined ? unmade.get(action.shard) : undefined
    const unmadeReason = `shard ${action.shard} was to be made by the split of shard ${parent}, which will not run`
    if (action.kind === 'split') {
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
      } else if (shard && plannedBase === undefined && shard.epoch !== action.epoch) verdict = ok(`shard ${action.shard} is at epoch ${shard.epoch}, the plan expected ${action.epoch}`)
      else verdict = ok()
      // After a stale split, a move of its lower part is checked against the map.
      if (verdict.ok) for (const p of action.parts) expected.set(p.shard, p.epoch)
      else unmade.set(action.parts[1].shard, action.shard)
      return verdict
    }
    if (parent !== undefined) verdict = ok(unmadeReason)
    else if (!nodeIds.has(action.to)) verdict = ok(`destination node "${action.to}" does not exist`)
    else if (!nodeIds.has(action.from)) verdict = ok(`source node "${action.from}" does not exist`)
    else if (!shard && plannedBase === undefined) verdict = ok(`shard ${action.shard} does not exist`)
    else if (shard && plannedBase === undefined && shard.epoch !== action.epoch) verdict = ok(`shard ${action.shard} is at epoch ${shard.epoch}, the plan expected ${action.epoch}`)
    else if (shard && plannedBase === undefined && !shard.replicas.some((r) => r.node === action.from && r.role === 'voter')) verdict = ok(`node "${action.from}" no longer holds shard ${action.shard}`)
    else if (shard && plannedBase === undefined && shard.replicas.some((r) => r.node === action.to)) verdict = ok(`node "${action.to}" already holds shard ${action.shard}`)
    else verdict = ok()
    expected.set(action.shard, action.epoch + epochSteps.move)
    return verdict
  })
  const runnable = verdicts.filter((v) => v.ok).length
  return {planId: plan.id, cluster: plan.cluster, fingerprintMatches: shardMapFingerprint(shards) === plan.createdFrom.fingerprint, verdicts, runnable, stale: verdicts.length - runnable}
}
