import {type ServiceContext} from '../cluster/serviceContext.js'
import {UserError} from '../errors/errors.js'
import {isTerminal, type Move, phasesWhere} from '../model/move.js'
import {type Plan} from '../model/plan.js'
import {unrecordedMovesOf} from './moveRecording.js'
import {listMoves} from './moveStore.js'
import {refuseOtherPlanUnderSameId} from './recordedPlanIdentity.js'

/** AppliedPlan counts a plan's recorded moves as `apply` of it again would find them. */
export interface AppliedPlan {
  moves: number
  /** unfinished: moves `apply` of it again continues (listed by an interrupted apply included). */
  unfinished: number
  /** unsuccessful: moves that ended without their change (aborted, failed, ...): `apply` of it again exits INCOMPLETE. */
  unsuccessful: number
}

const UNSUCCESSFUL = new Set(phasesWhere((i) => i.outcome === 'unsuccessful'))

/** countApplied (pure) counts `recorded` (this plan's move records) and `listed` (named by its list, not recorded yet). */
export function countApplied(recorded: readonly Pick<Move, 'phase'>[], listed: number): AppliedPlan {
  return {
    moves: recorded.length + listed,
    unfinished: recorded.filter((m) => !isTerminal(m.phase)).length + listed,
    unsuccessful: recorded.filter((m) => UNSUCCESSFUL.has(m.phase)).length,
  }
}

/**
 * appliedAlready reads the moves recorded (or listed by an interrupted apply) under `plan`'s
 * id. `apply` of such a plan runs no preflight: it only continues them ("applied already"),
 * so `plan verify` must judge it as apply will, not call its actions stale for the epochs its
 * own moves advanced. Undefined when none; refuses (BAD_INPUT) a different plan recorded
 * under the same id, as apply does.
 */
export async function appliedAlready(ctx: ServiceContext, plan: Plan): Promise<AppliedPlan | undefined> {
  const recorded = (await listMoves(ctx)).map((m) => m.value).filter((m) => m.plan === plan.id)
  const listed = await unrecordedMovesOf(ctx, plan.id)
  if (recorded.length + listed.length === 0) return undefined
  refuseOtherPlanUnderSameId(plan, [...recorded, ...listed])
  return countApplied(recorded, listed.length)
}

/**
 * appliedVerdict (pure) is `plan verify`'s line for a plan applied already, or throws
 * CONFLICT (exit 7) when some of its moves ended unsuccessful: applying it again runs
 * nothing and exits INCOMPLETE, so the gate must not pass it.
 */
export function appliedVerdict(planId: string, a: AppliedPlan): string {
  if (a.unsuccessful > 0) throw new UserError('CONFLICT', `plan ${planId} was applied already and ${a.unsuccessful} of its ${a.moves} move(s) ended without their change (aborted or failed): applying it again runs nothing`, 'see `shardctl moves list`, then compute a fresh plan with `shardctl plan`')
  const rest = a.unfinished === 0 ? 'applying it again runs nothing' : `applying it again continues only those ${a.unfinished}`
  return `applied already: ${a.moves} move(s) recorded, ${a.unfinished} unfinished; ${rest} (its actions are not checked again)`
}
