import {describe, expect, it} from 'vitest'
import {applyOutcome} from '../../src/cli/runOutcome.js'
import {type MoveEffects} from '../../src/executor/moveEffects.js'
import {RECORD_BATCH} from '../../src/executor/moveRecording.js'
import {commitMoveTransition, getMove, listMoves, requestCancel, requestRollback} from '../../src/executor/moveStore.js'
import {isTerminal, type MovePhase} from '../../src/model/move.js'
import {type PlanAction} from '../../src/model/plan.js'
import {UnfinishedConflictError} from '../../src/executor/unfinishedConflicts.js'
import {adoptWorld as world, worldWithQKilledIn} from './adoptWorld.js'
import {moveOf} from './fixtures.js'

/**
 * A plan's apply runs another plan's unfinished move that it makes too (same shard, source and
 * destination: executePlan "adopts" it), because its own action for that shard is skipped as
 * stale once that move has started. The world (adoptWorld.ts): one memory store, fake node effects.
 */

describe('another plan\'s move this plan makes too (adopted by its apply)', () => {
  // Found by the s23 adopt hunt: 91c8566 adopted every unfinished, not-cancelled move of the
  // same shard, source and destination, whatever its track. A move already aborting (its
  // destination died mid-copy, the executor gave up and was then killed) or rolling back does not
  // make the move the plan counts on: it ends with the shard back on its source. Adopted, the
  // plan's run waited for its destination to come back (a drop only that node can confirm is
  // waited for without bound), so `apply` of a plan whose own moves all finished never returned.
  it('Given another plan\'s move of shard s n1 -> n3 is aborting with n3 down, When a plan making that move (and another) is applied, Then its run ends once its own moves have, leaving that abort to `apply --resume`', async () => {
    const w = await world()
    const e = w.s.epoch
    await w.leftover(
      moveOf({id: 'plan-q-0000', plan: 'plan-q', shard: w.s.id, from: 'n1', to: 'n3', baseEpoch: e, epoch: e + 2, phase: 'aborting', reason: 'gave up after 8 attempts in copying: destination node "n3" is not up'}),
      {...w.s, epoch: e + 2, replicas: [{node: 'n1', role: 'voter'}]},
    )
    const result = await w.apply(w.planOf('plan-p', [w.move(w.s, 'n3'), w.move(w.t, 'n2')]))
    expect(result.stopped).toBe(false)
    expect(result.moves.filter((m) => m.id.startsWith('plan-p')).map((m) => `${m.shard}:${m.phase}`)).toEqual([`${w.s.id}:skipped`, `${w.t.id}:done`])
    expect(applyOutcome(result).code).toBeNull()
    // The abort is left as it was, for the next `apply --resume` once n3 is back.
    expect((await getMove(w.ctx, 'plan-q-0000')).value.phase).toBe('aborting')
  })

  it('Given another plan\'s move of shard s n1 -> n3 is aborting (n3 up), When a plan making that move is applied, Then its run does not end INCOMPLETE for that other plan\'s abort', async () => {
    const w = await world()
    await w.setAlive('n3')
    const e = w.s.epoch
    await w.leftover(
      moveOf({id: 'plan-q-0000', plan: 'plan-q', shard: w.s.id, from: 'n1', to: 'n3', baseEpoch: e, epoch: e + 1, phase: 'aborting', reason: 'verification kept differing'}),
      {...w.s, epoch: e + 1, replicas: [{node: 'n1', role: 'voter'}, {node: 'n3', role: 'joining'}]},
    )
    const result = await w.apply(w.planOf('plan-p', [w.move(w.s, 'n3'), w.move(w.t, 'n2')]))
    expect(result.stopped).toBe(false)
    expect(result.counts.aborted ?? 0).toBe(0)
    expect(applyOutcome(result).code).toBeNull()
  })

  // Found by the s24 autopilot hunt: the conflict check let a plan making the same move past a
  // move rolling back (which adoption rightly does not run): the rollback puts the shard back on
  // its source, which the plan counted on emptying, and a plan filling that node overfilled it.
  it('Given another plan\'s cut-over move of shard s n1 -> n3 is rolling back with n3 down, When a plan making that move and filling n1 is applied, Then it is refused (CONFLICT) with nothing changed: the rollback puts s back on n1', async () => {
    const w = await world()
    const e = w.s.epoch
    // Rolled back from cutover: reads are back on n1, n3 is to leave and drop its copy (it is down).
    const back = {...w.s, epoch: e + 3, replicas: [{node: 'n1', role: 'voter' as const}]}
    await w.leftover(moveOf({id: 'plan-q-0000', plan: 'plan-q', shard: w.s.id, from: 'n1', to: 'n3', baseEpoch: e, epoch: e + 3, phase: 'rb-cutover', rollbackRequested: true, cutoverAt: 't'}), back)
    const v = {...w.t, replicas: [{node: 'n2', role: 'voter' as const}]}
    await w.leftover(moveOf({id: 'plan-z-0000', plan: 'plan-z', shard: v.id, from: 'n1', to: 'n2', phase: 'done', baseEpoch: v.epoch, epoch: v.epoch}), v)
    const err = await w.apply(w.planOf('plan-p', [w.move(w.s, 'n3'), w.move(v, 'n1', 'n2')])).then(() => undefined, (x: unknown) => x)
    expect(err).toBeInstanceOf(UnfinishedConflictError)
    expect((err as UnfinishedConflictError).moves).toEqual(['plan-q-0000'])
    expect((await listMoves(w.ctx)).filter((m) => m.value.plan === 'plan-p')).toEqual([])
    expect((await w.shard(v.id)).replicas).toEqual([{node: 'n2', role: 'voter'}])
  })

  it('Given another plan\'s identical move still on its way (copying), When a plan making it and filling n1 is applied, Then that move is no conflict: the plan runs it and its own moves', async () => {
    const w = await world()
    await w.setAlive('n3')
    await w.leftover(moveOf({id: 'plan-q-0000', plan: 'plan-q', shard: w.s.id, from: 'n1', to: 'n3', baseEpoch: w.s.epoch, epoch: w.s.epoch + 1, phase: 'copying'}), {...w.s, epoch: w.s.epoch + 1, replicas: [{node: 'n1', role: 'voter'}, {node: 'n3', role: 'joining'}]})
    const v = {...w.t, replicas: [{node: 'n2', role: 'voter' as const}]}
    await w.leftover(moveOf({id: 'plan-z-0000', plan: 'plan-z', shard: v.id, from: 'n1', to: 'n2', phase: 'done', baseEpoch: v.epoch, epoch: v.epoch}), v)
    const result = await w.apply(w.planOf('plan-p', [w.move(w.s, 'n3'), w.move(v, 'n1', 'n2')]))
    expect(result.stopped).toBe(false)
    expect((await getMove(w.ctx, 'plan-q-0000')).value.phase).toBe('done')
    expect((await w.shard(w.s.id)).replicas).toEqual([{node: 'n3', role: 'voter'}])
    expect((await w.shard(v.id)).replicas).toEqual([{node: 'n1', role: 'voter'}])
  })

  // Found by the s23 adopt hunt: adoption matched the plan's actions by shard, source and
  // destination only. A plan applied (and finished) long ago, applied again (a pipeline that
  // re-applies its plan files: "applied already"), ran another plan's move recorded since that
  // happens to move the same shard between the same nodes (the shard came back meanwhile), a move
  // whose own apply was stopped before it started and that this plan never counted on.
  it('Given plan P moved s n1 -> n3 and finished, s came back to n1, and plan Q recorded the same move since (its apply stopped before it started), When P is applied again, Then it runs nothing: P was applied already, and Q\'s move is left to Q', async () => {
    const w = await world()
    await w.setAlive('n3')
    const p = w.planOf('plan-p', [w.move(w.s, 'n3')])
    expect((await w.apply(p)).moves.map((m) => m.phase)).toEqual(['done'])
    const there = await w.shard(w.s.id)
    expect((await w.apply(w.planOf('plan-r', [w.move(there, 'n1', 'n3')]))).moves.map((m) => m.phase)).toEqual(['done'])
    const back = await w.shard(w.s.id)
    await w.leftover(moveOf({id: 'plan-q-0000', plan: 'plan-q', shard: w.s.id, from: 'n1', to: 'n3', baseEpoch: back.epoch, epoch: back.epoch}), back)
    const again = await w.apply(p)
    expect(again.moves.map((m) => `${m.id}:${m.phase}`)).toEqual(['plan-p-0000:done'])
    expect((await getMove(w.ctx, 'plan-q-0000')).value.phase).toBe('pending')
    expect((await w.shard(w.s.id)).replicas).toEqual([{node: 'n1', role: 'voter'}])
  })

  it('Given plan Q\'s move of s n1 -> n3 was killed copying and plans P1 and P2 both make it too, When P1 adopts it and is killed at its cutover, and P2 is applied, Then the move finishes once, each plan\'s own action on s is skipped, and nothing is left to resume', async () => {
    const w = await worldWithQKilledIn('copying')
    const e = w.s.epoch
    await w.applyKilledAt(w.planOf('plan-p1', [w.move(w.s, 'n3')]), 'plan-q-0000', 'cutover')
    const result = await w.apply(w.planOf('plan-p2', [w.move(w.s, 'n3')]))
    expect(result.moves.map((m) => `${m.id}:${m.phase}`).sort()).toEqual(['plan-p2-0000:skipped', 'plan-q-0000:done'])
    const moves = (await listMoves(w.ctx)).map((m) => m.value)
    expect(moves.filter((m) => m.shard === w.s.id).map((m) => `${m.id}:${m.phase}`).sort()).toEqual(['plan-p1-0000:skipped', 'plan-p2-0000:skipped', 'plan-q-0000:done'])
    expect(await w.shard(w.s.id)).toMatchObject({epoch: e + 5, replicas: [{node: 'n3', role: 'voter'}]})
    expect(moves.filter((m) => !isTerminal(m.phase))).toEqual([])
    expect((await w.apply(undefined)).moves).toEqual([])
  })

  it('Given plan P runs plan Q\'s identical move (killed copying), When the operator cancels that move mid-copy (`moves cancel`), Then it aborts to n1, P\'s run ends INCOMPLETE with it aborted, and P applied again does not run the move again', async () => {
    const w = await worldWithQKilledIn('copying')
    const cancelling: MoveEffects = {
      ...w.effects,
      copy: async (env, m) => {
        if (m.value.id === 'plan-q-0000' && !m.value.cancelRequested) await requestCancel(env.ctx, m.value.id)
        return commitMoveTransition(env.ctx, env.fence, m, {phase: 'promoting'})
      },
    }
    const p = w.planOf('plan-p', [w.move(w.s, 'n3'), w.move(w.t, 'n2')])
    const result = await w.apply(p, cancelling)
    expect(result.stopped).toBe(false)
    expect(result.moves.map((m) => `${m.id}:${m.phase}`).sort()).toEqual(['plan-p-0000:skipped', 'plan-p-0001:done', 'plan-q-0000:aborted'])
    expect(applyOutcome(result).code).toBe('INCOMPLETE')
    expect((await w.shard(w.s.id)).replicas).toEqual([{node: 'n1', role: 'voter'}])
    const again = await w.apply(p)
    expect(again.moves.map((m) => `${m.id}:${m.phase}`)).toEqual(['plan-p-0000:skipped', 'plan-p-0001:done'])
    expect((await w.shard(w.s.id)).replicas).toEqual([{node: 'n1', role: 'voter'}])
  })

  it('Given plan P runs plan Q\'s identical move (killed copying), When the operator rolls it back while it drains its source, Then it rolls back to n1 alone, P\'s run ends without failure (let go), and neither P applied again nor a resume moves it again', async () => {
    const w = await worldWithQKilledIn('copying')
    const rollingBack: MoveEffects = {
      ...w.effects,
      drain: async (m) => {
        if (m.id === 'plan-q-0000' && !m.rollbackRequested) await requestRollback(w.ctx, m.id)
      },
    }
    const p = w.planOf('plan-p', [w.move(w.s, 'n3'), w.move(w.t, 'n2')])
    const result = await w.apply(p, rollingBack)
    expect(result.moves.map((m) => `${m.id}:${m.phase}`).sort()).toEqual(['plan-p-0000:skipped', 'plan-p-0001:done', 'plan-q-0000:rolledback'])
    expect(applyOutcome(result).code).toBeNull()
    expect((await w.shard(w.s.id)).replicas).toEqual([{node: 'n1', role: 'voter'}])
    expect((await w.apply(p)).moves.map((m) => `${m.id}:${m.phase}`)).toEqual(['plan-p-0000:skipped', 'plan-p-0001:done'])
    expect((await w.apply(undefined)).moves).toEqual([])
    expect((await w.shard(w.s.id)).replicas).toEqual([{node: 'n1', role: 'voter'}])
  })

  // Kill the other plan's apply at each phase of the move, apply the plan that makes it too,
  // kill that apply at the next phase, then re-apply it: the move finishes exactly once, the
  // shard ends on n3 alone at four epochs up, and nothing is left unfinished.
  const PHASES: MovePhase[] = ['checked', 'joining', 'promoting', 'verifying', 'cutover', 'release', 'draining', 'cleanup']
  for (const [i, phase] of PHASES.entries()) {
    const next = PHASES[i + 1]
    it(`Given plan Q's move of shard s n1 -> n3 was killed in ${phase}, When plan P (making it too) adopts it${next ? `, is killed in ${next} and is applied again` : ''}, Then the move finishes once and the shard is on n3 alone`, async () => {
      const w = await worldWithQKilledIn(phase)
      const e = w.s.epoch
      // P's action on s comes after Q's (index 1 against 0): where both are runnable (Q's killed
      // in checked), Q's runs first and P's is skipped at its start.
      const p = w.planOf('plan-p', [w.move(w.t, 'n2'), w.move(w.s, 'n3')])
      if (next) await w.applyKilledAt(p, 'plan-q-0000', next)
      const result = await w.apply(p)
      expect(result.stopped).toBe(false)
      const moves = (await listMoves(w.ctx)).map((m) => m.value)
      expect(moves.filter((m) => !isTerminal(m.phase))).toEqual([])
      expect(moves.filter((m) => m.shard === w.s.id && m.phase === 'done').map((m) => m.id)).toEqual(['plan-q-0000'])
      const s = await w.shard(w.s.id)
      expect(s.replicas).toEqual([{node: 'n3', role: 'voter'}])
      expect(s.epoch).toBe(e + 5)
      expect(applyOutcome(result).code).toBeNull()
    })
  }
})

describe('another plan\'s unstarted move of a shard this plan moves first at the same epoch (no conflict: "skipped when it starts")', () => {
  // Found by the s23 adopt hunt. The conflict check lets plan P through past plan Q's pending
  // move of shard s to n2 because P moves s first at that epoch (to n3), so Q's move would be
  // skipped at its start. But nothing makes P's move run first: P stopped once recorded, the
  // resume runs moves in plan-index order across plans, Q's move of s (index 0) goes before P's
  // (index 1) and lands s on n2, which P had filled with u counting on s going to n3; P's own move
  // of s is then skipped. n2 ended with what neither plan placed there. P's apply now records
  // Q's move skipped once it recorded its own (supersededMoves).
  it('Given Q\'s pending move of s n1 -> n2, and P (u n1 -> n2, then s n1 -> n3) applied and stopped once recorded, When `apply --resume` runs, Then s ends on n3 as P planned, not on n2', async () => {
    const w = await world()
    await w.setAlive('n3')
    await w.leftoverQMovingSToN2()
    const stopped = await w.applyStoppedAfterRecording(w.planP())
    expect(stopped.stopped).toBe(true)
    expect((await getMove(w.ctx, 'plan-q-0000')).value).toMatchObject({phase: 'skipped', reason: expect.stringMatching(/^superseded by plan plan-p's move of shard \d+ \(n1 -> n3\)/)})
    const resumed = await w.apply(undefined)
    expect(resumed.moves.map((m) => `${m.id}:${m.phase}`).sort()).toEqual(['plan-p-0000:done', 'plan-p-0001:done'])
    expect((await w.shard(w.u.id)).replicas).toEqual([{node: 'n2', role: 'voter'}])
    expect((await w.shard(w.s.id)).replicas).toEqual([{node: 'n3', role: 'voter'}])
  })

  // The s23 adopt hunt's open window: P's apply records its moves and Q's skip in two
  // transactions. Killed between them, Q's move stayed pending, and the resume ran it first.
  it('Given the same, but P\'s apply is killed (SIGKILL) right after recording its moves, before it records Q\'s move skipped, When `apply --resume` runs, Then Q\'s move is skipped and s ends on n3 as P planned', async () => {
    const w = await world()
    await w.setAlive('n3')
    await w.leftoverQMovingSToN2()
    await w.applyKilledAfterRecording(w.planP())
    expect((await getMove(w.ctx, 'plan-q-0000')).value.phase).toBe('pending')
    const resumed = await w.apply(undefined)
    expect((await getMove(w.ctx, 'plan-q-0000')).value).toMatchObject({phase: 'skipped', reason: expect.stringMatching(/^superseded by plan plan-p's move of shard \d+ \(n1 -> n3\)/)})
    expect(resumed.moves.filter((m) => m.id.startsWith('plan-p-')).map((m) => `${m.id}:${m.phase}`).sort()).toEqual(['plan-p-0000:done', 'plan-p-0001:done'])
    expect((await w.shard(w.u.id)).replicas).toEqual([{node: 'n2', role: 'voter'}])
    expect((await w.shard(w.s.id)).replicas).toEqual([{node: 'n3', role: 'voter'}])
  })

  it('Given Q\'s pending move of s n1 -> n2 recorded AFTER P\'s pending move of s n1 -> n3 (Q was let through, moving s first at that epoch), When `apply --resume` runs, Then P\'s move is the one skipped and s ends on n2: the later plan wins, whichever plan-index order says', async () => {
    const w = await world()
    await w.setAlive('n3')
    await w.leftover(moveOf({id: 'plan-p-0001', plan: 'plan-p', index: 1, shard: w.s.id, from: 'n1', to: 'n3', baseEpoch: w.s.epoch, epoch: w.s.epoch}), w.s)
    await w.leftover(moveOf({id: 'plan-q-0000', plan: 'plan-q', index: 0, shard: w.s.id, from: 'n1', to: 'n2', baseEpoch: w.s.epoch, epoch: w.s.epoch}), w.s)
    await w.apply(undefined)
    expect((await getMove(w.ctx, 'plan-p-0001')).value).toMatchObject({phase: 'skipped', reason: expect.stringMatching(/^superseded by plan plan-q's move of shard \d+ \(n1 -> n2\)/)})
    expect((await w.shard(w.s.id)).replicas).toEqual([{node: 'n2', role: 'voter'}])
  })

  // The sweep's order is the order moves were recorded in. A large plan's moves an apply killed
  // mid-recording listed but did not record are recorded by the next executor: here by the apply
  // of the plan let through past them, before that plan's own, so they still come first.
  it('Given Q (more moves than one transaction) killed after its first batch, its move of s n1 -> n2 listed but unrecorded, When P (u n1 -> n2, then s n1 -> n3) is applied, Then Q\'s move is recorded and skipped as superseded by P\'s, and s ends on n3', async () => {
    const w = await world()
    await w.setAlive('n3')
    // RECORD_BATCH stale moves (their shards do not exist: recorded skipped) fill Q's first batch.
    const stale = Array.from({length: RECORD_BATCH}, (_, i): PlanAction => ({...w.move(w.t, 'n3'), shard: 1000 + i}))
    await w.applyKilledAfterRecording(w.planOf('plan-q', [...stale, w.move(w.s, 'n2')]))
    const qs = `plan-q-${String(RECORD_BATCH).padStart(4, '0')}`
    await expect(getMove(w.ctx, qs)).rejects.toThrow(/does not exist/)
    const result = await w.apply(w.planP())
    expect(result.moves.map((m) => `${m.id}:${m.phase}`)).toEqual(['plan-p-0000:done', 'plan-p-0001:done'])
    expect((await getMove(w.ctx, qs)).value).toMatchObject({phase: 'skipped', reason: expect.stringMatching(/^superseded by plan plan-p's move of shard \d+ \(n1 -> n3\)/)})
    expect((await w.shard(w.u.id)).replicas).toEqual([{node: 'n2', role: 'voter'}])
    expect((await w.shard(w.s.id)).replicas).toEqual([{node: 'n3', role: 'voter'}])
    expect((await w.apply(undefined)).moves).toEqual([])
    expect((await w.shard(w.s.id)).replicas).toEqual([{node: 'n3', role: 'voter'}])
  })

  // The other way round: the plan let through later is the one still listed. Its move must be
  // recorded before the sweep of the run that completes the list, or that run (here P applied
  // again) ran P's move first and left Q, which counted on it being skipped, a shard short.
  it('Given P\'s pending move of s n1 -> n3, and Q (more moves than one transaction, s n1 -> n2 last) let through past it and killed after its first batch, When P is applied again, Then P\'s move is skipped as superseded by Q\'s, and the resume lands s on n2', async () => {
    const w = await world()
    await w.setAlive('n3')
    const p = w.planOf('plan-p', [w.move(w.s, 'n3')])
    expect((await w.applyStoppedAfterRecording(p)).stopped).toBe(true)
    // Q's first batch: stale moves (their shards do not exist) on n2 alone, no node P's move changes.
    const stale = Array.from({length: RECORD_BATCH}, (_, i): PlanAction => ({...w.move(w.t, 'n2', 'n2'), shard: 1000 + i}))
    await w.applyKilledAfterRecording(w.planOf('plan-q', [...stale, w.move(w.s, 'n2')]))
    const qs = `plan-q-${String(RECORD_BATCH).padStart(4, '0')}`
    const again = await w.apply(p)
    expect(again.moves.map((m) => `${m.id}:${m.phase}`)).toEqual(['plan-p-0000:skipped'])
    expect((await getMove(w.ctx, 'plan-p-0000')).value.reason).toMatch(/^superseded by plan plan-q's move of shard \d+ \(n1 -> n2\)/)
    expect((await w.shard(w.s.id)).replicas).toEqual([{node: 'n1', role: 'voter'}])
    await w.apply(undefined)
    expect((await getMove(w.ctx, qs)).value.phase).toBe('done')
    expect((await w.shard(w.s.id)).replicas).toEqual([{node: 'n2', role: 'voter'}])
  })

  // Found by the s24 sweep hunt: the sweep took a cancelled move for one that supersedes nothing.
  // Unkilled, P's apply records Q's move skipped before anyone can cancel P's move of s; killed in
  // between, the operator's cancel of that one move (P's others left to run) brought Q's move back
  // to life, and the resume ran it: n2 got s beside u, what P was let through counting on it not.
  it('Given P\'s apply is killed right after recording its moves (before it records Q\'s move skipped), When the operator cancels P\'s move of s alone and `apply --resume` runs, Then Q\'s move is still skipped: n2 gets u only, s stays on n1, as had P\'s apply not been killed', async () => {
    const w = await world()
    await w.setAlive('n3')
    await w.leftoverQMovingSToN2()
    await w.applyKilledAfterRecording(w.planP())
    await requestCancel(w.ctx, 'plan-p-0001')
    const resumed = await w.apply(undefined)
    expect(resumed.moves.map((m) => `${m.id}:${m.phase}`).sort()).toEqual(['plan-p-0000:done', 'plan-p-0001:aborted'])
    expect((await getMove(w.ctx, 'plan-q-0000')).value).toMatchObject({phase: 'skipped', reason: expect.stringMatching(/^superseded by plan plan-p's move of shard \d+ \(n1 -> n3\)/)})
    expect((await w.shard(w.u.id)).replicas).toEqual([{node: 'n2', role: 'voter'}])
    expect((await w.shard(w.s.id)).replicas).toEqual([{node: 'n1', role: 'voter'}])
  })

  // The same cancel, P's apply not killed: what the sweep must leave the killed one at.
  it('Given P\'s apply stopped once recorded (Q\'s move recorded skipped), When the operator cancels P\'s move of s and `apply --resume` runs, Then Q\'s move stays skipped and s stays on n1', async () => {
    const w = await world()
    await w.setAlive('n3')
    await w.leftoverQMovingSToN2()
    await w.applyStoppedAfterRecording(w.planP())
    await requestCancel(w.ctx, 'plan-p-0001')
    await w.apply(undefined)
    expect((await getMove(w.ctx, 'plan-q-0000')).value.phase).toBe('skipped')
    expect((await w.shard(w.u.id)).replicas).toEqual([{node: 'n2', role: 'voter'}])
    expect((await w.shard(w.s.id)).replicas).toEqual([{node: 'n1', role: 'voter'}])
  })

  // Found by the s24 sweep hunt: the conflict check let a plan past another plan's unstarted
  // move of a shard the plan acts on first at that epoch, whether or not that action would run.
  // A split whose new id another plan's split took since (two plans made from one map) is stale:
  // it does not raise the epoch, the other move stays valid, no move of the plan supersedes it
  // (the sweep has nothing to go on), and it ran after the plan, on a node the plan filled.
  it('Given Q\'s pending move of s n1 -> n2, When plan P (split s, then u n1 -> n2) is applied after another plan\'s split took the id P\'s split creates, Then P is refused (CONFLICT, nothing changed): its split is stale, so Q\'s move still runs after it and n2 would get both s and u', async () => {
    const w = await world()
    const id = await w.nextShardId()
    await w.leftoverQMovingSToN2()
    const p = w.planOf('plan-p', [w.split(w.s, id), w.move(w.u, 'n2')])
    // Plan R, made from the same map, splits t first: it takes the id P's split was to create.
    expect((await w.apply(w.planOf('plan-r', [w.split(w.t, id)]))).splits.map((x) => x.status)).toEqual(['done'])
    const err = await w.apply(p).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(UnfinishedConflictError)
    expect((err as Error).message).toMatch(/plan plan-p conflicts with 1 unfinished move\(s\) of plan plan-q: .* both change node n/)
    expect((await listMoves(w.ctx)).filter((m) => m.value.plan === 'plan-p')).toEqual([])
    expect((await w.shard(w.u.id)).replicas).toEqual([{node: 'n1', role: 'voter'}])
    expect((await getMove(w.ctx, 'plan-q-0000')).value.phase).toBe('pending')
  })
})
