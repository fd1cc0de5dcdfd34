import {UserError} from '../errors/errors.js'
import {type Move} from '../model/move.js'
import {type Plan} from '../model/plan.js'

/** RecordedMove is what the identity check needs of a move recorded under a plan's id. */
export type RecordedMove = Pick<Move, 'id' | 'index' | 'shard' | 'from' | 'to' | 'baseEpoch'>

/**
 * refuseOtherPlanUnderSameId (pure) throws BAD_INPUT (exit 2) when moves recorded under
 * `plan`'s id are not this plan's actions (the action at the move's index is not the same
 * move of the same shard at the same epoch). The executor knows a plan by its id: without
 * this, a different plan that happens to carry a recorded id (two plans computed in the same
 * millisecond, a frozen clock in CI) is reported "applied already" and nothing of it runs,
 * exit 0. Recorded moves that are the plan's own (a rerun, a resume) pass.
 */
export function refuseOtherPlanUnderSameId(plan: Pick<Plan, 'id' | 'actions'>, recorded: readonly RecordedMove[]): void {
  for (const m of [...recorded].sort((a, b) => a.index - b.index)) {
    const a = plan.actions[m.index]
    if (a?.kind === 'move' && a.shard === m.shard && a.from === m.from && a.to === m.to && a.epoch === m.baseEpoch) continue
    const mine = a === undefined ? `this file has no action ${m.index + 1}` : a.kind === 'move' ? `this file's action ${m.index + 1} moves shard ${a.shard} ${a.from} -> ${a.to} at epoch ${a.epoch}` : `this file's action ${m.index + 1} splits shard ${a.shard}`
    throw new UserError(
      'BAD_INPUT',
      `plan ${plan.id} is not the plan recorded under that id: its recorded move ${m.id} (action ${m.index + 1}) moves shard ${m.shard} ${m.from} -> ${m.to} at epoch ${m.baseEpoch}, ${mine}; nothing was changed`,
      'plan ids must be unique: compute a fresh plan with `shardctl plan` (a new id), or apply the file that was recorded',
    )
  }
}
