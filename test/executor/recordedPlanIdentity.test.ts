import {describe, expect, it} from 'vitest'
import {isUserError} from '../../src/errors/errors.js'
import {type PlanAction} from '../../src/model/plan.js'
import {type RecordedMove, refuseOtherPlanUnderSameId} from '../../src/executor/recordedPlanIdentity.js'

const move = (shard: number, from: string, to: string, epoch = 1): PlanAction => ({kind: 'move', shard, epoch, from, to, bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}})
const recorded = (index: number, shard: number, from: string, to: string, baseEpoch = 1): RecordedMove => ({id: `p-000${index}`, index, shard, from, to, baseEpoch})

describe('refuseOtherPlanUnderSameId', () => {
  it('Given the moves recorded under the id are this plan\'s (a rerun, a resume), Then it passes', () => {
    const plan = {id: 'p', actions: [move(0, 'n1', 'n2'), move(3, 'n2', 'n1', 5)]}
    expect(() => refuseOtherPlanUnderSameId(plan, [])).not.toThrow()
    expect(() => refuseOtherPlanUnderSameId(plan, [recorded(1, 3, 'n2', 'n1', 5), recorded(0, 0, 'n1', 'n2')])).not.toThrow()
  })

  it('Given a move recorded under the id that this plan does not hold at that index, Then BAD_INPUT in one line naming both, and how to get a fresh id', () => {
    const plan = {id: 'p', actions: [move(0, 'n7', 'n1')]}
    for (const other of [recorded(0, 0, 'n2', 'n9'), recorded(0, 0, 'n7', 'n1', 2), recorded(1, 4, 'n1', 'n2')]) {
      let err: unknown
      try {
        refuseOtherPlanUnderSameId(plan, [other])
      } catch (e) {
        err = e
      }
      expect(isUserError(err, 'BAD_INPUT')).toBe(true)
      expect((err as Error).message).toContain(`plan p is not the plan recorded under that id: its recorded move ${other.id}`)
      expect((err as Error).message).not.toContain('\n')
      expect((err as {hint: string}).hint).toContain('shardctl plan')
    }
  })
})
