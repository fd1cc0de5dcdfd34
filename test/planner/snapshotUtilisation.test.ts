import {describe, expect, it} from 'vitest'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {snapshotUtilisation} from '../../src/planner/snapshotUtilisation.js'
import {snapshotOf} from './snapshotBuilder.js'

describe('snapshotUtilisation', () => {
  it('given a cluster with mixed capacities and a draining node, when computing, then it states what a plan states as "before"', () => {
    const snap = snapshotOf({
      nodes: [{id: 'a', capacity: {reads: 100}}, {id: 'b', capacity: {reads: 300}}, {id: 'c', state: 'draining', capacity: {reads: 100}}],
      shards: [
        {replicas: ['a'], reads: 50, bytes: 10},
        {replicas: ['b'], reads: 10, bytes: 30},
        {replicas: ['c'], reads: 40, bytes: 20},
      ],
    })
    const figures = snapshotUtilisation(snap)
    const plan = planRebalance(snap, {}, {id: 'u', createdAt: '2025-01-01T00:00:00.000Z'}, {baseline: false})
    for (const n of plan.nodes) expect(figures.nodes.get(n.id)).toEqual({utilisation: n.before.utilisation, perResource: n.before.perResource})
    expect(figures.imbalance).toBe(plan.summary.imbalanceBefore)
    // a is small and busy: above the mean; the draining node does not define the imbalance.
    expect(figures.imbalance).toBe(figures.nodes.get('a')!.utilisation)
    expect(figures.imbalance).toBeGreaterThan(1)
  })

  it('given every node draining, when computing, then it throws the planner error naming the cause', () => {
    const snap = snapshotOf({nodes: [{id: 'a', state: 'draining'}], shards: [{replicas: ['a'], reads: 1}]})
    expect(() => snapshotUtilisation(snap)).toThrow(/every node is draining/)
  })
})
