import {describe, expect, it} from 'vitest'
import {applyPlan} from '../../src/planner/applyPlan.js'
import {checkPlanActions} from '../../src/planner/checkPlan.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {snapshotOf} from './snapshotBuilder.js'

const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}, {id: 'c', state: 'draining'}], shards: [...Array.from({length: 4}, () => ({replicas: ['a'], reads: 10, bytes: 1})), {replicas: ['c'], reads: 1, bytes: 1}]})
const plan = planRebalance(snap, {}, {id: 'p', createdAt: 'now'})

describe('checkPlanActions', () => {
  it('given the snapshot the plan was made from, when checked, then every action is valid', () => {
    expect(plan.actions.length).toBeGreaterThan(1)
    expect(checkPlanActions(snap, plan).every((c) => c.valid)).toBe(true)
  })

  it('given a shard that changed since, when checked, then its actions are stale with the reason and the others stay valid', () => {
    const target = plan.actions[0]!
    const changed = {...snap, shards: snap.shards.map((s) => (s.id === target.shard ? {...s, epoch: s.epoch + 1} : s))}
    const checks = checkPlanActions(changed, plan)
    expect(checks[0]).toMatchObject({valid: false, shard: target.shard, reason: `the shard is at epoch ${target.epoch + 1}, the plan expects ${target.epoch}`})
    expect(checks.slice(1).filter((c) => c.shard !== target.shard).every((c) => c.valid)).toBe(true)
  })

  it('given a plan already applied, when checked, then its moves are stale', () => {
    const checks = checkPlanActions(applyPlan(snap, plan), plan)
    expect(checks.every((c) => !c.valid)).toBe(true)
  })
})
