import {describe, expect, it} from 'vitest'
import {preflightPlan, refuseAllStale, refuseAnyStale, refuseOtherIncarnation, refuseUnknownNodes, stalePolicyOf} from '../../src/executor/planPreflight.js'
import {isUserError} from '../../src/errors/errors.js'
import {EPOCH_STEPS, type PlanAction, sealPlan, type SplitAction} from '../../src/model/plan.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {snapshotOf} from '../planner/snapshotBuilder.js'

describe('preflightPlan', () => {
  const snapshot = snapshotOf({nodes: ['n1', 'n2', 'n3'].map((id) => ({id})), shards: [{replicas: ['n1']}, {replicas: ['n2']}]})
  const base = planRebalance(snapshot, {}, {id: 'p', createdAt: '2025-01-01T00:00:00.000Z'})
  const [s0] = snapshot.shards
  const q = (f: number) => s0!.range.lo + Math.floor((s0!.range.hi - s0!.range.lo) * f)
  const split = (shard: number, epoch: number, lo: number, at: number, hi: number, upper: number): SplitAction => ({kind: 'split', shard, epoch, at, parts: [{shard, range: {lo, hi: at}, epoch: epoch + 1}, {shard: upper, range: {lo: at, hi}, epoch: epoch + 1}], reason: {kind: 'split', detail: 'hot'}})
  const planOf = (actions: PlanAction[]) => sealPlan({...base, actions})
  const ids = new Set(['n1', 'n2', 'n3'])

  it('Given a split of the upper piece an earlier split of the same plan creates (the planner splits pieces again), When preflighted, Then both splits and the piece moves are runnable', () => {
    // Shard 0 at epoch 1 is cut at 1/2 into 0 and 2 (epoch 2); then piece 2 is cut at 3/4 into 2 and 3 (epoch 3).
    const plan = planOf([
      split(0, 1, s0!.range.lo, q(1 / 2), s0!.range.hi, 2),
      split(2, 2, q(1 / 2), q(3 / 4), s0!.range.hi, 3),
      {kind: 'move', shard: 3, epoch: 3, from: 'n1', to: 'n3', bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}} as PlanAction,
    ])
    const pre = preflightPlan(plan, snapshot.shards, ids, EPOCH_STEPS)
    expect(pre.verdicts.map((v) => v.reason ?? 'ok')).toEqual(['ok', 'ok', 'ok'])
  })

  it('Given a shard so hot the planner (--allow-split) cuts its pieces again, When its plan is preflighted, Then no split or move is stale', () => {
    const hot = snapshotOf({nodes: ['n1', 'n2', 'n3', 'n4'].map((id) => ({id})), shards: [{replicas: ['n1'], reads: 4000}, ...['n2', 'n3', 'n4'].map((n) => ({replicas: [n], reads: 10}))]})
    const plan = planRebalance(hot, {allowSplit: true}, {id: 'hot', createdAt: '2025-01-01T00:00:00.000Z'})
    // Main skipped 4 of the 7 splits here ('shard 4 does not exist'): the pieces the first splits create.
    expect(plan.actions.filter((a) => a.kind === 'split' && !hot.shards.some((s) => s.id === a.shard)).length).toBeGreaterThan(0)
    const pre = preflightPlan(plan, hot.shards, new Set(['n1', 'n2', 'n3', 'n4']), EPOCH_STEPS)
    expect(pre.verdicts.filter((v) => !v.ok).map((v) => v.reason)).toEqual([])
  })

  it('Given a stale split whose new id another split took since, When preflighted, Then the move naming that id is stale too, not run on the other shard', () => {
    // Since the plan: shard 0 moved (epoch 5), and another plan split shard 1 into 1 and 2 (epoch 2, on n2).
    const [, s1] = snapshot.shards
    const mid = s1!.range.lo + Math.floor((s1!.range.hi - s1!.range.lo) / 2)
    const now = [{...s0!, epoch: 5}, {...s1!, range: {lo: s1!.range.lo, hi: mid}, epoch: 2}, {...s1!, id: 2, range: {lo: mid, hi: s1!.range.hi}, epoch: 2}]
    const plan = planOf([
      split(0, 1, s0!.range.lo, q(1 / 2), s0!.range.hi, 2),
      {kind: 'move', shard: 2, epoch: 2, from: 'n2', to: 'n3', bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}} as PlanAction,
    ])
    const pre = preflightPlan(plan, now, ids, EPOCH_STEPS)
    expect(pre.verdicts.map((v) => v.ok)).toEqual([false, false])
  })

  it('Given a split of a shard neither the map nor an earlier split has, When preflighted, Then it is stale: the shard does not exist', () => {
    const pre = preflightPlan(planOf([split(7, 1, q(0), q(1 / 2), q(1), 8)]), snapshot.shards, ids, EPOCH_STEPS)
    expect(pre.verdicts[0]).toMatchObject({ok: false, reason: 'shard 7 does not exist'})
  })

  describe('against another plan applied since (two plans made from one snapshot)', () => {
    const [, s1] = snapshot.shards
    const half = (s: typeof s0) => s!.range.lo + Math.floor((s!.range.hi - s!.range.lo) / 2)
    const moveOf = (shard: number, epoch: number, from: string, to: string) => ({kind: 'move', shard, epoch, from, to, bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}}) as PlanAction
    // The other plan split shard 1 (on n2) into 1 and 2, both at epoch 2: id 2 is taken.
    const afterOther = [s0!, {...s1!, range: {lo: s1!.range.lo, hi: half(s1)}, epoch: 2}, {...s1!, id: 2, range: {lo: half(s1), hi: s1!.range.hi}, epoch: 2}]
    const mine = planOf([split(0, 1, s0!.range.lo, half(s0), s0!.range.hi, 2), moveOf(2, 2, 'n1', 'n3')])

    it('Given the new id this split creates is another split\'s piece by now, When preflighted, Then the split is stale (naming the id), and so is the move of that id, even with its epoch matching', () => {
      const pre = preflightPlan(mine, afterOther, ids, EPOCH_STEPS)
      expect(pre.verdicts.map((v) => v.ok)).toEqual([false, false])
      expect(pre.verdicts[0]!.reason).toContain('shard id 2')
    })

    it('Given the meta\'s next free id moved past the split\'s new id (that id is not in the map), When preflighted with it, Then the split is stale as applySplit would skip it', () => {
      const pre = preflightPlan(mine, snapshot.shards, ids, EPOCH_STEPS, {nextShardId: 3})
      expect(pre.verdicts.map((v) => v.reason ?? 'ok')).toEqual(['shard id 2 is no longer the next free id (next is 3)', 'shard 2 was to be made by the split of shard 0, which will not run'])
    })

    it('Given a chain of splits (the second cuts the first one\'s piece), When preflighted with the next free id, Then each split takes the next id in turn and all run', () => {
      const chain = planOf([split(0, 1, s0!.range.lo, q(1 / 2), s0!.range.hi, 2), split(2, 2, q(1 / 2), q(3 / 4), s0!.range.hi, 3), moveOf(3, 3, 'n1', 'n3')])
      expect(preflightPlan(chain, snapshot.shards, ids, EPOCH_STEPS, {nextShardId: 2}).verdicts.map((v) => v.reason ?? 'ok')).toEqual(['ok', 'ok', 'ok'])
    })

    it('Given shard 0 is in the middle of a move (a joining replica), When its split is preflighted, Then it is stale, as applySplit would skip it', () => {
      const moving = [{...s0!, replicas: [...s0!.replicas, {node: 'n3', role: 'joining' as const}]}, s1!]
      expect(preflightPlan(planOf([split(0, 1, s0!.range.lo, half(s0), s0!.range.hi, 2)]), moving, ids, EPOCH_STEPS).verdicts[0]).toMatchObject({ok: false, reason: 'shard 0 is in the middle of a move'})
    })

    it('Given another plan\'s move of shard 0 is recorded and under way (interrupted mid-copy), When a move and a split of shard 0 are preflighted, Then both are stale, naming that move and how to finish or cancel it', () => {
      const unfinished = [{id: 'other-0000', plan: 'other', shard: 0, phase: 'copying' as const}]
      const moveVerdict = preflightPlan(planOf([moveOf(0, 1, 'n1', 'n3')]), snapshot.shards, ids, EPOCH_STEPS, {unfinished}).verdicts[0]!
      expect(moveVerdict.ok).toBe(false)
      expect(moveVerdict.reason).toContain('other-0000 (copying) of plan other')
      expect(moveVerdict.reason).toContain('apply --resume')
      expect(preflightPlan(planOf([split(0, 1, s0!.range.lo, half(s0), s0!.range.hi, 2)]), snapshot.shards, ids, EPOCH_STEPS, {unfinished}).verdicts[0]!.ok).toBe(false)
      // The plan's own recorded moves do not make its shards busy.
      expect(preflightPlan(planOf([moveOf(0, 1, 'n1', 'n3')]), snapshot.shards, ids, EPOCH_STEPS, {unfinished: [{...unfinished[0]!, plan: 'p'}]}).verdicts[0]!.ok).toBe(true)
    })

    it('Given another plan\'s move of shard 0 is recorded but not started (pending or checked: an interrupted drain\'s queue), When a move of shard 0 is preflighted, Then it runs: that move re-validates when it starts and is skipped then', () => {
      for (const phase of ['pending', 'checked'] as const) {
        const pre = preflightPlan(planOf([moveOf(0, 1, 'n1', 'n3')]), snapshot.shards, ids, EPOCH_STEPS, {unfinished: [{id: 'other-0000', plan: 'other', shard: 0, phase}]})
        expect(pre.verdicts[0]!.ok).toBe(true)
      }
    })
  })
})

describe('refuseUnknownNodes', () => {
  const move = (from: string, to: string): PlanAction => ({kind: 'move', shard: 0, epoch: 1, from, to, bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}})
  const ids = new Set(['n1', 'n2'])
  it('Given every move names nodes of the cluster, Then it passes', () => {
    expect(() => refuseUnknownNodes({id: 'p', cluster: 'c', actions: [move('n1', 'n2')]}, ids)).not.toThrow()
  })
  it('Given a move to or from a node the cluster does not have, Then CONFLICT in one line naming the node, the action and a fresh plan', () => {
    for (const [from, to, node] of [['n1', 'n9', 'n9'], ['n7', 'n2', 'n7']] as const) {
      let err: unknown
      try {
        refuseUnknownNodes({id: 'p', cluster: 'c', actions: [move('n1', 'n2'), move(from, to)]}, ids)
      } catch (e) {
        err = e
      }
      expect(isUserError(err, 'CONFLICT')).toBe(true)
      expect((err as Error).message).toBe(`plan p names node "${node}", which cluster "c" does not have (action 2: move shard 0 ${from} -> ${to}); nothing was changed`)
      expect((err as {hint: string}).hint).toContain('shardctl plan')
    }
  })
})

describe('refuseOtherIncarnation and refuseAllStale', () => {
  const snapshot = snapshotOf({nodes: ['n1', 'n2'].map((id) => ({id})), shards: [{replicas: ['n1']}, {replicas: ['n1']}]})
  const withUid = {...snapshot, cluster: {...snapshot.cluster, uid: 'incarnation-a'}}
  const move = (shard: number, epoch: number): PlanAction => ({kind: 'move', shard, epoch, from: 'n1', to: 'n2', bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}})
  /** pre preflights a plan of `actions` (both shards at epoch 1, nodes n1 and n2). */
  const pre = (actions: PlanAction[]) => preflightPlan(sealPlan({...planRebalance(snapshot, {}, {id: 'p', createdAt: '2025-01-01T00:00:00.000Z'}), actions}), snapshot.shards, new Set(['n1', 'n2']), EPOCH_STEPS)

  it('Given a plan made from a cluster with a uid, When checked against another uid or none, Then it is refused (BAD_INPUT) naming both; the same uid, or a plan without one, passes', () => {
    const plan = planRebalance(withUid, {}, {id: 'p', createdAt: '2025-01-01T00:00:00.000Z'})
    expect(plan.createdFrom.uid).toBe('incarnation-a')
    expect(() => refuseOtherIncarnation(plan, {uid: 'incarnation-a'})).not.toThrow()
    for (const meta of [{uid: 'incarnation-b'}, {}]) {
      try {
        refuseOtherIncarnation(plan, meta)
        expect.unreachable()
      } catch (e) {
        expect(isUserError(e, 'BAD_INPUT')).toBe(true)
        expect((e as Error).message).toMatch(/was made from another incarnation of cluster ".*" \(uid incarnation-a; this one is (uid incarnation-b|without a uid)\)/)
      }
    }
    const old = planRebalance(snapshot, {}, {id: 'p', createdAt: '2025-01-01T00:00:00.000Z'})
    expect(old.createdFrom.uid).toBeUndefined()
    expect(() => refuseOtherIncarnation(old, {uid: 'incarnation-b'})).not.toThrow()
  })

  it('Given a plan none of whose actions can run, When checked, Then it is refused (CONFLICT) naming the first; one runnable action, or no action, passes', () => {
    try {
      refuseAllStale(pre([move(0, 9), move(1, 9)]))
      expect.unreachable()
    } catch (e) {
      expect(isUserError(e, 'CONFLICT')).toBe(true)
      expect((e as Error).message).toBe("every one of plan p's 2 action(s) is stale (first: action 1, shard 0: shard 0 is at epoch 1, the plan expected 9); nothing was recorded or changed")
    }
    expect(() => refuseAllStale(pre([move(0, 9), move(1, 1)]))).not.toThrow()
    expect(() => refuseAllStale(pre([]))).not.toThrow()
  })

  it('Given a plan one of whose actions is stale, When checked with refuseAnyStale (apply --stale refuse), Then it is refused (CONFLICT) counting the stale ones and naming the first; a plan with every action runnable, or none, passes', () => {
    try {
      refuseAnyStale(pre([move(0, 1), move(1, 9)]))
      expect.unreachable()
    } catch (e) {
      expect(isUserError(e, 'CONFLICT')).toBe(true)
      expect((e as Error).message).toBe("1 of plan p's 2 action(s) are stale (first: action 2, shard 1: shard 1 is at epoch 1, the plan expected 9), and --stale refuse runs a plan whole or not at all; nothing was recorded or changed")
      expect((e as {hint: string}).hint).toContain('--stale skip')
    }
    expect(() => refuseAnyStale(pre([move(0, 1), move(1, 1)]))).not.toThrow()
    expect(() => refuseAnyStale(pre([]))).not.toThrow()
  })

  it('Given --stale and --require-signature, When apply picks its stale policy, Then an explicit --stale wins, a signed plan is refused whole by default and any other skips', () => {
    expect(stalePolicyOf(undefined, true)).toBe('refuse')
    expect(stalePolicyOf(undefined, false)).toBe('skip')
    expect(stalePolicyOf('skip', true)).toBe('skip')
    expect(stalePolicyOf('refuse', false)).toBe('refuse')
    expect(() => stalePolicyOf('maybe', true)).toThrow(/--stale maybe: not a policy/)
  })
})
