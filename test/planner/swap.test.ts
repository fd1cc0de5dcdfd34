import {describe, expect, it} from 'vitest'
import {type MoveAction, type Plan} from '../../src/model/plan.js'
import {applyPlan} from '../../src/planner/applyPlan.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {snapshotOf, type ShardSpec} from './snapshotBuilder.js'

/**
 * Swaps (issue 13 item 2): when no single move lowers the worst node without putting its
 * destination at or above where the source was, the balance phase exchanges replicas
 * between two nodes.
 */

const meta = {id: 'swap', createdAt: '2025-01-02T03:04:05.000Z'}
const plan = (snap: Parameters<typeof planRebalance>[0]): Plan => planRebalance(snap, {maxImbalance: 1.0}, meta, {baseline: false})
const moves = (p: Plan): MoveAction[] => p.actions.filter((a): a is MoveAction => a.kind === 'move')
const unit = (node: string, size: number): ShardSpec => ({replicas: [node], reads: size, bytes: size})
const worst = (p: Plan): number => Math.max(...p.nodes.filter((n) => n.state !== 'draining').map((n) => n.after.utilisation))

describe('balancing by swaps', () => {
  it('given two nodes where every single move overshoots, when planning, then it swaps a big replica for a smaller one and both nodes end even', () => {
    // a: 5 + 3 = 8, b: 4 + 2 = 6 (mean 7). Moving 3 puts b at 9 > 8, moving 5 puts b at 11:
    // no single move lowers the worst node. Exchanging 3 (a) for 2 (b) gives 7 and 7.
    const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}], shards: [unit('a', 5), unit('a', 3), unit('b', 4), unit('b', 2)]})
    const p = plan(snap)
    const m = moves(p)
    expect(m.map((x) => [x.shard, x.from, x.to])).toEqual([
      [1, 'a', 'b'],
      [3, 'b', 'a'],
    ])
    expect(m[0]!.reason.detail).toMatch(/no single move lowers it: swapped with shard 3/)
    expect(worst(p)).toBeCloseTo(1, 6)
    // The plan's figures are what applying it gives.
    const after = applyPlan(snap, p)
    expect(after.shards.map((s) => s.replicas[0]!.node)).toEqual(['a', 'b', 'b', 'a'])
  })
})
