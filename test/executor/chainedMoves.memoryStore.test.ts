import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {getMove, listMoves} from '../../src/executor/moveStore.js'
import {UnfinishedConflictError} from '../../src/executor/unfinishedConflicts.js'
import {EPOCH_STEPS} from '../../src/model/plan.js'
import {healWorld} from './healWorld.js'

/**
 * A plan that moves two replicas of one shard (a heal of two dead nodes at RF 3, a rebalance)
 * records the second move at the epoch the first one leaves: every move raises a shard's epoch
 * by EPOCH_STEPS.move, whoever makes it. Left pending by a stopped apply, that second move is not
 * "skipped when it starts" (its epoch is ahead of the shard's, not behind): it runs once the shard
 * reaches it, after its plan's first move or any other plan's move of the shard.
 */
describe('another plan\'s pending second move of a shard, recorded at an epoch the shard has not reached yet', () => {
  // Found by the s25 heal hunt: the conflict check took such a move for one skipped at its start,
  // so a plan filling its destination was let past it; the resume ran both.
  it('Given Q (s n1 -> y, then s x -> z) stopped once recorded, When plan P moving t x -> z (no node of Q\'s first move) is applied, Then it is refused (CONFLICT, nothing changed) naming Q\'s second move: both fill z', async () => {
    const w = await healWorld()
    const t = (await listShards(w.ctx)).shards.map((v) => v.value).find((v) => v.id !== w.s.id && v.replicas.some((r) => r.node === w.x) && !v.replicas.some((r) => r.node === w.z))
    if (!t) throw new Error('the world needs another shard on x, not on z')
    const q = w.planOf('plan-q', [w.move(w.s, 'n1', w.y), {...w.move(w.s, w.x, w.z), epoch: w.s.epoch + EPOCH_STEPS.move}])
    expect((await w.applyStoppedAfterRecording(q)).stopped).toBe(true)
    const err = await w.apply(w.planOf('plan-p', [w.move(t, w.x, w.z)])).then(
      () => undefined,
      (e: unknown) => e,
    )
    await w.apply(undefined)
    // Let past, P moved t to z, and the resume ran Q's two moves: s on y and z, beside t, which P did not count on.
    expect(err).toBeInstanceOf(UnfinishedConflictError)
    expect((err as UnfinishedConflictError).moves).toEqual(['plan-q-0001'])
    expect((await listMoves(w.ctx)).filter((m) => m.value.plan === 'plan-p')).toEqual([])
    expect((await getMove(w.ctx, 'plan-q-0001')).value.phase).toBe('done')
    expect((await w.shard()).replicas.map((r) => r.node).sort()).toEqual([w.y, w.z].sort())
    expect((await w.shardById(t.id)).replicas.map((r) => r.node)).toContain(w.x)
  })
})
