import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {acquireLock} from '../../src/etcd/leaseLock.js'
import {listMoves} from '../../src/executor/moveStore.js'
import {moveOf} from '../executor/fixtures.js'
import {beforeExecutorLockGrant, cleanOneCheckDirs, drainingN3Cluster, expectNothingCounted, runOneAutopilotCheck} from './oneAutopilotCheck.js'

/**
 * A human's `apply` leaves a move unfinished (killed, or stopped with Ctrl-C once it recorded
 * its moves) between the autopilot's observation (nothing unfinished, the executor lock free)
 * and its own apply taking the executor lock. The autopilot's heal plan then conflicts with that
 * move and `apply` refuses it before changing anything (unfinishedConflicts.ts). The real
 * runAutopilot on a memory store with fake node effects; n3 is draining, so the check heals.
 */
cleanOneCheckDirs()

describe('autopilot: a human\'s apply leaves a move unfinished just before the autopilot\'s apply', () => {
  // Found by the s23 adopt hunt: the conflict refusal was a plain CONFLICT, which the autopilot
  // takes for an executor that stopped after changing things: its outcome said "failed: the
  // executor stopped", and the refused plan's bytes and cool-downs were counted as spent (the
  // next heal finds its budget shrunk by a plan that moved nothing).
  it('Given the refusal changed nothing, When the autopilot heals, Then it says refused, counts nothing spent, and re-plans at once: it resumes the human\'s move', async () => {
    const {clock, store, ctx, state} = await drainingN3Cluster('ap')
    const human = (await listShards(ctx)).shards.map((s) => s.value).find((s) => s.replicas[0]!.node === 'n1')!
    beforeExecutorLockGrant(store, () => store.put(ctx.keys.move('human-0000'), JSON.stringify(moveOf({id: 'human-0000', plan: 'human', shard: human.id, from: 'n1', to: 'n2', baseEpoch: human.epoch, epoch: human.epoch}))))
    const events = await runOneAutopilotCheck(ctx, clock, {coolDownMs: 60_000, limit: 4})
    const outcomes = events.flatMap((e) => (e.type === 'outcome' ? [e.outcome] : []))
    expect(outcomes[0]).toMatch(/^refused \(CONFLICT\): plan \S+ conflicts with 1 unfinished move\(s\) of plan human.*nothing of this plan ran; resuming those moves first/)
    expect(outcomes[1]).toMatch(/^1 done/)
    const s = await state()
    expectNothingCounted(s)
    expect((await listMoves(ctx)).map((m) => `${m.value.id}:${m.value.phase}`)).toEqual(['human-0000:done'])
  })
  // Found by the s23 adopt hunt: a heal deferred because a human's apply took the executor lock
  // in that gap ran nothing, yet its bytes and cool-downs were counted as spent.
  it('Given a human\'s apply takes the executor lock just before the autopilot\'s, When the autopilot heals, Then it defers and counts nothing of the plan it did not run', async () => {
    const {clock, store, ctx, state} = await drainingN3Cluster('ap')
    beforeExecutorLockGrant(store, () => acquireLock(store, ctx.keys.executorLock, 'human apply'))
    const events = await runOneAutopilotCheck(ctx, clock, {coolDownMs: 60_000, limit: 4})
    const outcomes = events.flatMap((e) => (e.type === 'outcome' ? [e.outcome] : []))
    expect(outcomes).toHaveLength(1)
    expect(outcomes[0]).toMatch(/^deferred: /)
    const s = await state()
    expectNothingCounted(s)
    expect(await listMoves(ctx)).toEqual([])
  })
})
