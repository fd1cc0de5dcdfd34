import {describe, expect, it} from 'vitest'
import {type MoveAction, type Plan} from '../../src/model/plan.js'
import {type ClusterSnapshot} from '../../src/model/snapshot.js'
import {ruleKeepingOrder} from '../../src/planner/bandSearch.js'
import {ClusterState} from '../../src/planner/clusterState.js'
import {resolvePlanOptions} from '../../src/planner/options.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {snapshotOf, type ShardSpec} from './snapshotBuilder.js'

/**
 * Two instances of moveOptimality.test.ts (default band 1.10) where the greedy balance orders
 * fell short of exhaustive search: seed 126 stopped outside a reachable band, seed 170 took
 * four moves where one does. Capacities are far above the loads: they weigh fair shares only.
 */

const meta = {id: 'band', createdAt: '2025-01-02T03:04:05.000Z'}
const moves = (p: Plan): MoveAction[] => p.actions.filter((a): a is MoveAction => a.kind === 'move')
const inBand = (p: Plan): boolean => p.nodes.filter((n) => n.state !== 'draining').every((n) => n.after.utilisation >= 0.9 - 1e-9 && n.after.utilisation <= 1.1 + 1e-9)
const cap = {reads: 1e6, bytes: 1e6}
const sized = (replicas: string[], size: number): ShardSpec => ({replicas, reads: size, bytes: size})

/** seed 126 (new-node): six shards of load 1-2 at rf 2 on n0 and n1, n2 new and empty; the mean is 6 per node. */
function newNodeSnapshot(constraints: ClusterSnapshot['constraints'] = []): ClusterSnapshot {
  return snapshotOf({
    rf: 2,
    nodes: ['n0', 'n1', 'n2'].map((id) => ({id, capacity: cap})),
    shards: [1, 2, 2, 2, 1, 1].map((size) => sized(['n0', 'n1'], size)),
    constraints,
  })
}

/** seed 170 (hot-shard): n0 holds 43 of a mean 27.5, shard 0 alone 18 of it, n2 only 8. */
function hotShardSnapshot(constraints: ClusterSnapshot['constraints'] = []): ClusterSnapshot {
  return snapshotOf({
    rf: 2,
    nodes: ['n0', 'n1', 'n2', 'n3'].map((id) => ({id, capacity: cap})),
    shards: [
      sized(['n0', 'n1'], 18),
      sized(['n0', 'n3'], 5),
      sized(['n0', 'n3'], 7),
      sized(['n0', 'n3'], 6),
      sized(['n1', 'n3'], 4),
      sized(['n0', 'n1'], 1),
      sized(['n0', 'n1'], 6),
      sized(['n2', 'n3'], 8),
    ],
    constraints,
  })
}

describe('balancing small clusters to the band in the fewest moves', () => {
  it('given a new node that 2-unit replicas fill to a local optimum (seed 126), when planning, then every node ends within the band in the fewest moves, 4', () => {
    // Greedy moved three 2s (n0 5, n1 7, n2 6) and no move or swap helped from there (1.17x).
    const p = planRebalance(newNodeSnapshot(), {}, meta, {baseline: false})
    expect(p.summary.status).toBe('needs-rebalance')
    expect(inBand(p)).toBe(true)
    expect(moves(p)).toHaveLength(4)
    expect(p.summary.bytesToMove).toBe(6)
  })

  it('given a big replica whose one move reaches the band (seed 170), when planning, then it moves that one replica, not four small ones', () => {
    const p = planRebalance(hotShardSnapshot(), {}, meta, {baseline: false})
    expect(p.summary.status).toBe('needs-rebalance')
    expect(inBand(p)).toBe(true)
    expect(moves(p).map((m) => [m.shard, m.from, m.to])).toEqual([[0, 'n0', 'n2']])
    expect(moves(p)[0]!.reason.detail).toMatch(/move 1 of 1, the fewest found that bring every node within 0\.90\.\.1\.10x the mean .*the greedy orders took 4/)
  })

  it('given the big replica pinned (a cool-down) or forbidden on the node it would fill, when planning, then the search moves it nowhere it may not go', () => {
    const pinned = planRebalance(hotShardSnapshot([{kind: 'pin', shard: 0, node: 'n0'}]), {}, meta, {baseline: false})
    expect(moves(pinned).some((m) => m.shard === 0 && m.from === 'n0')).toBe(false)
    expect(inBand(pinned)).toBe(true)
    const forbidden = planRebalance(hotShardSnapshot([{kind: 'forbid', shard: 0, node: 'n2'}]), {}, meta, {baseline: false})
    expect(moves(forbidden).some((m) => m.shard === 0 && m.to === 'n2')).toBe(false)
    expect(inBand(forbidden)).toBe(true)
  })

  it('given a move limit below the fewest moves that reach the band, when planning, then the plan keeps to the limit', () => {
    const p = planRebalance(newNodeSnapshot(), {maxMoves: 3}, meta, {baseline: false})
    expect(moves(p).length).toBeLessThanOrEqual(3)
    expect(p.summary.status).toBe('unreachable')
    const bytes = planRebalance(newNodeSnapshot(), {maxBytes: 5}, meta, {baseline: false})
    expect(bytes.summary.bytesToMove).toBeLessThanOrEqual(5)
  })
})

describe('ruleKeepingOrder', () => {
  it('given two moves where the first only fits once the second has made room, when ordering them, then the second goes first', () => {
    // a holds x (6), b holds y (6), b's byte capacity is 10: x fits on b only once y has left for c.
    const snap = snapshotOf({
      nodes: [{id: 'a'}, {id: 'b', capacity: {bytes: 10}}, {id: 'c'}],
      shards: [sized(['a'], 6), sized(['b'], 6)],
    })
    const state = ClusterState.fromSnapshot(snap, resolvePlanOptions({}))
    const [x, y] = [state.placement.slotsOf(0)[0]!, state.placement.slotsOf(1)[0]!]
    expect(ruleKeepingOrder(state, [{slot: x, to: 1}, {slot: y, to: 2}])).toEqual([{slot: y, to: 2}, {slot: x, to: 1}])
    // With y staying on b, x never fits there (12 > 10).
    expect(ruleKeepingOrder(state, [{slot: x, to: 1}])).toBeUndefined()
    // The state itself is untouched.
    expect(state.placement.slotNode[x]).toBe(0)
  })
})
