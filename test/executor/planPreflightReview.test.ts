import {describe, expect, it} from 'vitest'
import {preflightPlan} from '../../src/executor/planPreflight.js'
import {decideSplit} from '../../src/executor/splitShard.js'
import {EPOCH_STEPS, type PlanAction, sealPlan, type SplitAction} from '../../src/model/plan.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {snapshotOf} from '../planner/snapshotBuilder.js'

/**
 * Review (s18, review-a): a plan splits shard 0 at 1/2 (new id 2), then its lower piece again
 * at 1/4 (new id 3), then moves piece 3. A run made the first split and died before the
 * second; meanwhile another plan cut shard 0 at 3/8, taking id 3 ([3/8, 1/2), epoch e+2, on
 * n1: the same epoch and replicas the plan expects of its own piece 3). Re-applying: the first
 * split is already made (splitMade, 4aa44c4/95238d0), so preflight sets shard 0's planned epoch
 * and never checks the second split against the map: it is "ok", and so is the move of id 3.
 * At run time applySplit skips the second split (shard 0 is at e+2, not e+1), but recordMoves
 * has already recorded the move of id 3 as pending, and the runner (epoch == baseEpoch, first
 * replica == from) moves the other plan's [3/8, 1/2) instead of the planned [1/4, 1/2).
 * Expected: the second split and the move of id 3 are stale.
 */
describe('preflight after an earlier split of the plan was already made', () => {
  const snapshot = snapshotOf({nodes: ['n1', 'n2', 'n3'].map((id) => ({id})), shards: [{replicas: ['n1']}, {replicas: ['n2']}]})
  const base = planRebalance(snapshot, {}, {id: 'p', createdAt: '2025-01-01T00:00:00.000Z'})
  const s0 = snapshot.shards[0]!
  const e = s0.epoch
  const q = (f: number) => s0.range.lo + Math.floor((s0.range.hi - s0.range.lo) * f)
  const split = (shard: number, epoch: number, lo: number, at: number, hi: number, upper: number): SplitAction => ({kind: 'split', shard, epoch, at, parts: [{shard, range: {lo, hi: at}, epoch: epoch + 1}, {shard: upper, range: {lo: at, hi}, epoch: epoch + 1}], reason: {kind: 'split', detail: 'hot'}})
  const plan = sealPlan({
    ...base,
    actions: [
      split(0, e, s0.range.lo, q(1 / 2), s0.range.hi, 2),
      split(0, e + 1, s0.range.lo, q(1 / 4), q(1 / 2), 3),
      {kind: 'move', shard: 3, epoch: e + 2, from: 'n1', to: 'n3', bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}} as PlanAction,
    ],
  })
  // The plan's first split made; then another plan's split of shard 0 at 3/8 took id 3.
  const now = [
    {...s0, range: {lo: s0.range.lo, hi: q(3 / 8)}, epoch: e + 2},
    {...s0, id: 3, range: {lo: q(3 / 8), hi: q(1 / 2)}, epoch: e + 2},
    {...s0, id: 2, range: {lo: q(1 / 2), hi: s0.range.hi}, epoch: e + 1},
    snapshot.shards[1]!,
  ]

  it('runtime: applySplit would skip the second split (shard 0 is no longer at the epoch it expects)', () => {
    expect(decideSplit(plan.actions[1] as SplitAction, now[0], now[1], {...snapshot.cluster, nextShardId: 4} as never).kind).toBe('skipped')
  })

  it('preflight: the second split and the move of its piece 3 are stale, not run against the shard another plan made with id 3', () => {
    const pre = preflightPlan(plan, now, new Set(['n1', 'n2', 'n3']), EPOCH_STEPS)
    expect(pre.verdicts.map((v) => v.ok)).toEqual([true, false, false])
  })
})
