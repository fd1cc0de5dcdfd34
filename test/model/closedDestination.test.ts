import {describe, expect, it} from 'vitest'
import {closedDestination} from '../../src/model/closedDestination.js'
import {decideMove} from '../../src/executor/moveMachine.js'
import {preflightPlan} from '../../src/executor/planPreflight.js'
import {EPOCH_STEPS, type PlanAction, sealPlan} from '../../src/model/plan.js'
import {type NodeState} from '../../src/model/node.js'
import {checkPlanActions} from '../../src/planner/checkPlan.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {snapshotOf} from '../planner/snapshotBuilder.js'
import {moveOf, shardOf} from '../executor/fixtures.js'

/**
 * A plan made before its destination node was cordoned or drained: its move still passes every
 * shard check (cordoning or draining n3 changes no epoch of a shard n3 does not hold), so until
 * session 35 `apply` ran it and `plan verify` passed it, filling a node the operator had closed.
 */
describe('a move onto a node cordoned or drained since the plan was made', () => {
  const made = snapshotOf({nodes: ['n1', 'n2', 'n3'].map((id) => ({id})), shards: [{replicas: ['n1']}, {replicas: ['n2']}]})
  const base = planRebalance(made, {}, {id: 'p', createdAt: '2025-01-01T00:00:00.000Z'})
  const [s0] = made.shards
  const move: PlanAction = {kind: 'move', shard: s0!.id, epoch: s0!.epoch, from: 'n1', to: 'n3', bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'fill n3'}, predicted: {source: 1, target: 1}}
  const plan = sealPlan({...base, actions: [move]})

  for (const state of ['cordoned', 'draining'] as const) {
    it(`Given n3 ${state} since, When apply preflights the plan, Then the move is stale, naming n3's state`, () => {
      const states = new Map<string, NodeState>([['n1', 'active'], ['n2', 'active'], ['n3', state]])
      const pre = preflightPlan(plan, made.shards, new Set(states.keys()), EPOCH_STEPS, {nodeStates: states})
      expect(pre.verdicts[0]).toMatchObject({ok: false, reason: closedDestination('n3', state)})
      expect(pre.runnable).toBe(0)
    })

    it(`Given n3 ${state} since, When \`plan verify\` checks the plan, Then the move is not valid`, () => {
      const now = {...made, nodes: made.nodes.map((n) => (n.id === 'n3' ? {...n, state} : n))}
      expect(checkPlanActions(now, plan)[0]).toMatchObject({valid: false, reason: closedDestination('n3', state)})
    })

    it(`Given a recorded move onto n3, ${state} before it started, When the executor takes it up (pending or checked), Then it is skipped, not begun`, () => {
      const m = moveOf({shard: 1, from: 'a', to: 'd'})
      for (const phase of ['pending', 'checked'] as const) {
        const d = decideMove({move: {...m, phase}, shard: {value: shardOf(1, ['a', 'b', 'c']), revision: 1n}, registered: new Set(['a', 'b', 'c', 'd']), states: new Map([['d', state]]), alive: new Set(['a', 'b', 'c', 'd']), control: {paused: false, inWindow: true}, now: 0, done: new Set(), failures: 0, tries: 0})
        expect(d).toMatchObject({kind: 'commit', transition: {phase: 'skipped'}})
        expect(d.kind === 'commit' ? d.transition.reason : '').toContain(closedDestination('d', state))
      }
    })
  }

  it('Given every node active, When preflighted and checked, Then the move runs', () => {
    const states = new Map<string, NodeState>([['n1', 'active'], ['n2', 'active'], ['n3', 'active']])
    expect(preflightPlan(plan, made.shards, new Set(states.keys()), EPOCH_STEPS, {nodeStates: states}).verdicts[0]!.ok).toBe(true)
    expect(checkPlanActions(made, plan)[0]!.valid).toBe(true)
  })
})
