import {describe, expect, it} from 'vitest'
import {getMove, listMoves, requestCancel} from '../../src/executor/moveStore.js'
import {UnfinishedConflictError} from '../../src/executor/unfinishedConflicts.js'
import {moveOf} from './fixtures.js'
import {healWorld} from './healWorld.js'

/**
 * A heal (the autopilot's, or a human's drain of a dead node) re-creates elsewhere the replicas
 * of a node marked draining: its moves take shards off that node. A plan acting first on such a
 * shard at the heal move's epoch used to be let past it (the heal move "is skipped when it
 * starts") and the superseded-move sweep recorded the heal move skipped, while the plan's own
 * move of the shard moved another replica: at RF 2 the shard kept its replica on the dead node,
 * one live copy left until the next heal. The world: test/executor/healWorld.ts.
 */
const world = healWorld

describe('a pending heal move (taking a shard off a draining node) and another plan\'s move of that shard at its epoch', () => {
  it('Given the heal\'s pending move of s n1 -> z (n1 dead, draining), When a plan moving s\'s live replica x -> y (made before n1 died) is applied, Then it is refused (CONFLICT, nothing changed) naming the heal move, and `apply --resume` takes s off n1', async () => {
    const w = await world()
    const rebalance = w.planOf('plan-p', [w.move(w.s, w.x, w.y)])
    await w.n1Dies()
    expect((await w.applyStoppedAfterRecording(w.planOf('heal-h', [w.move(w.s, 'n1', w.z, 'drain')]))).stopped).toBe(true)
    const err = await w.apply(rebalance).then(
      () => undefined,
      (e: unknown) => e,
    )
    await w.apply(undefined)
    // Left past the heal, the plan had it skipped and moved x instead: s on n1 (dead) and y, one live copy of two.
    expect((await w.shard()).replicas.map((r) => r.node).sort()).toEqual([w.x, w.z].sort())
    expect((await getMove(w.ctx, 'heal-h-0000')).value.phase).toBe('done')
    expect(err).toBeInstanceOf(UnfinishedConflictError)
    expect((err as UnfinishedConflictError).moves).toEqual(['heal-h-0000'])
    expect((err as Error).message).toMatch(/^plan plan-p conflicts with 1 unfinished move\(s\) of plan heal-h: its action 1 \(shard \d+ n\d -> n\d\) would have move heal-h-0000 \(shard \d+ n1 -> n\d, pending\) skipped, which takes shard \d+ off draining node n1: shard \d+ would keep its replica on node n1$/)
    expect((await listMoves(w.ctx)).filter((m) => m.value.plan === 'plan-p')).toEqual([])
  })

  it('Given the same plan taking s off n1 itself (n1 -> y), When it is applied, Then it is let past the heal move, which is recorded skipped as superseded, and s leaves n1 for y', async () => {
    const w = await world()
    await w.n1Dies()
    await w.applyStoppedAfterRecording(w.planOf('heal-h', [w.move(w.s, 'n1', w.z, 'drain')]))
    const result = await w.apply(w.planOf('plan-p', [w.move(w.s, 'n1', w.y)]))
    expect(result.moves.map((m) => `${m.id}:${m.phase}`)).toEqual(['plan-p-0000:done'])
    expect((await getMove(w.ctx, 'heal-h-0000')).value).toMatchObject({phase: 'skipped', reason: expect.stringMatching(/^superseded by plan plan-p's move/)})
    expect((await w.shard()).replicas.map((r) => r.node).sort()).toEqual([w.x, w.y].sort())
  })

  // The sweep sees pairs the apply's check did not refuse: recorded by an apply of an earlier
  // version, or let past while n1 was still alive and active (Q's move of s off n1 was then a
  // balance move) with P's apply killed before it recorded Q's move skipped, n1 dying since.
  it('Given Q\'s pending move of s n1 -> z and P\'s pending move of s x -> y recorded after it, n1 then dead and draining, When `apply --resume` runs, Then P\'s move is the one skipped, and s leaves n1', async () => {
    const w = await world()
    await w.leftover(moveOf({id: 'plan-q-0000', plan: 'plan-q', shard: w.s.id, from: 'n1', to: w.z, baseEpoch: w.s.epoch, epoch: w.s.epoch}))
    await w.leftover(moveOf({id: 'plan-p-0000', plan: 'plan-p', shard: w.s.id, from: w.x, to: w.y, baseEpoch: w.s.epoch, epoch: w.s.epoch}))
    await w.n1Dies()
    await w.apply(undefined)
    expect((await w.shard()).replicas.map((r) => r.node).sort()).toEqual([w.x, w.z].sort())
    expect((await getMove(w.ctx, 'plan-q-0000')).value.phase).toBe('done')
    expect((await getMove(w.ctx, 'plan-p-0000')).value).toMatchObject({phase: 'skipped', reason: expect.stringMatching(/^superseded by plan plan-q's move of shard \d+ \(n1 -> n\d\), which takes it off draining node n1/)})
  })

  // Found by the s25 heal hunt. P takes s off n1 itself, so it is let past the heal move (which
  // it supersedes) without its other actions being weighed against it: P counts on z not getting
  // s. Unkilled, P's apply records the heal move skipped before anyone can cancel P's move of s.
  // Killed in between, the sweep took the cancelled move off n1 for one that wins nothing from
  // the heal, and the resume ran the heal move: z got s beside t, which neither plan counted on.
  it('Given the heal\'s pending move of s n1 -> z and plan P (s n1 -> y, then t to z) whose apply is killed right after recording its moves, When the operator cancels P\'s move of s alone and `apply --resume` runs, Then the heal move is still skipped, as P\'s apply would have recorded it: z gets t only', async () => {
    const w = await world()
    await w.n1Dies()
    await w.applyStoppedAfterRecording(w.planOf('heal-h', [w.move(w.s, 'n1', w.z, 'drain')]))
    const t = w.t
    await w.applyKilledAfterRecording(w.planOf('plan-p', [w.move(w.s, 'n1', w.y), w.move(t, t.replicas[0]!.node, w.z)]))
    expect((await getMove(w.ctx, 'heal-h-0000')).value.phase).toBe('pending')
    await requestCancel(w.ctx, 'plan-p-0000')
    const resumed = await w.apply(undefined)
    expect(resumed.moves.map((m) => `${m.id}:${m.phase}`).sort()).toEqual(['plan-p-0000:aborted', 'plan-p-0001:done'])
    expect((await getMove(w.ctx, 'heal-h-0000')).value).toMatchObject({phase: 'skipped', reason: expect.stringMatching(/^superseded by plan plan-p's move of shard \d+ \(n1 -> n\d\), which takes it off draining node n1/)})
    expect((await w.shardById(t.id)).replicas.map((r) => r.node)).toContain(w.z)
    expect((await w.shard()).replicas.map((r) => r.node).sort()).toEqual(['n1', w.x].sort())
  })

  // The same cancel, P's apply not killed: what the sweep must leave the killed one at.
  it('Given P\'s apply stopped once recorded (the heal move recorded skipped), When the operator cancels P\'s move of s and `apply --resume` runs, Then the heal move stays skipped and z gets t only', async () => {
    const w = await world()
    await w.n1Dies()
    await w.applyStoppedAfterRecording(w.planOf('heal-h', [w.move(w.s, 'n1', w.z, 'drain')]))
    const t = w.t
    await w.applyStoppedAfterRecording(w.planOf('plan-p', [w.move(w.s, 'n1', w.y), w.move(t, t.replicas[0]!.node, w.z)]))
    expect((await getMove(w.ctx, 'heal-h-0000')).value.phase).toBe('skipped')
    await requestCancel(w.ctx, 'plan-p-0000')
    await w.apply(undefined)
    expect((await w.shardById(t.id)).replicas.map((r) => r.node)).toContain(w.z)
    expect((await w.shard()).replicas.map((r) => r.node).sort()).toEqual(['n1', w.x].sort())
  })

  // Found by the s25 heal hunt: the node's state is read for the conflict check before the
  // question, and the sweep reads it again after the answer. n1 marked draining in between (the
  // autopilot marks a dead node before it takes the executor lock, `node drain` before its apply),
  // the check let P past Q's move as an ordinary one, and the sweep then let that move, now a heal,
  // win over P's: P's run recorded its own move skipped and did not run Q's, s left on dead n1.
  it('Given Q\'s pending move of s n1 -> z (n1 alive, active), When n1 dies and is marked draining while an apply of P (s x -> y) waits for its answer, Then P is refused (CONFLICT, nothing changed) as it would have been a moment later, and `apply --resume` takes s off n1', async () => {
    const w = await world()
    expect((await w.applyStoppedAfterRecording(w.planOf('plan-q', [w.move(w.s, 'n1', w.z)]))).stopped).toBe(true)
    const err = await w.applyAnswering(w.planOf('plan-p', [w.move(w.s, w.x, w.y)]), w.n1Dies).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect((await listMoves(w.ctx)).filter((m) => m.value.plan === 'plan-p').map((m) => `${m.value.id}:${m.value.phase}`)).toEqual([])
    expect(err).toBeInstanceOf(UnfinishedConflictError)
    expect((err as UnfinishedConflictError).moves).toEqual(['plan-q-0000'])
    await w.apply(undefined)
    expect((await w.shard()).replicas.map((r) => r.node).sort()).toEqual([w.x, w.z].sort())
  })
})
