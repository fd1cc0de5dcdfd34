import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {listMoves} from '../../src/executor/moveStore.js'
import {type Move, MoveSchema} from '../../src/model/move.js'
import {moveOf} from '../executor/fixtures.js'
import {beforeExecutorLockGrant, cleanOneCheckDirs, drainingN3Cluster, runOneAutopilotCheck} from './oneAutopilotCheck.js'

/**
 * The autopilot's `apply` is refused because its plan conflicts with ANOTHER plan's unfinished
 * moves (src/executor/unfinishedConflicts.ts): between the check's observation (no unfinished
 * move, the executor lock free) and its apply taking the executor lock, a human `apply`
 * recorded a move of its own plan and was killed (its lock lapsed with it), leaving the move
 * pending. Re-planning gives the same conflict; those moves must run first. The real
 * runAutopilot on a memory store with fake node effects; node n3 is draining, so the check
 * heals (n3's replicas to n1 and n2), and the human's move takes a shard of n1 to n2.
 */
cleanOneCheckDirs()

async function run() {
  const {clock, store, ctx, state} = await drainingN3Cluster('apuc')
  const onN1 = (await listShards(ctx)).shards.map((s) => s.value).find((s) => s.replicas.some((r) => r.node === 'n1'))!
  const at = new Date(clock.now).toISOString()
  const human: Move = MoveSchema.parse(moveOf({id: 'human-0000', plan: 'human', shard: onN1.id, from: 'n1', to: 'n2', baseEpoch: onN1.epoch, epoch: onN1.epoch, createdAt: at, updatedAt: at}))
  // The human's killed apply records its move just before the autopilot's apply takes the executor lock.
  beforeExecutorLockGrant(store, () => store.put(ctx.keys.move(human.id), JSON.stringify(human)))
  const events = await runOneAutopilotCheck(ctx, clock, {coolDownMs: 3_600_000, limit: 4})
  return {events, state: await state(), moves: (await listMoves(ctx)).map((m) => m.value), humanShard: onN1.id}
}

describe('autopilot: an apply refused for conflicting with another plan\'s unfinished moves', () => {
  it('Given another plan\'s move is left pending just before the heal\'s apply, When the apply is refused, Then the check does not re-plan into the same refusal: it says why, resumes that move at once, and counts nothing of the refused plan', async () => {
    const r = await run()
    expect(r.events.filter((e) => e.type === 'deposed')).toEqual([])
    const decisions = r.events.flatMap((e) => (e.type === 'decision' ? [e] : []))
    const outcomes = r.events.flatMap((e) => (e.type === 'outcome' ? [e] : []))
    expect(decisions.map((d) => d.kind)).toEqual(['heal', 'resume'])
    // The refusal is said for what it is: nothing ran, another plan's moves are in the way, they go first.
    expect(outcomes[0]!.kind).toBe('heal')
    expect(outcomes[0]!.outcome).toMatch(/^refused \(CONFLICT\): .*conflicts with 1 unfinished move\(s\) of plan human.*nothing of this plan ran; resuming those moves first/)
    expect(outcomes[0]!.outcome).not.toMatch(/kept changing|ignoring its lock|executor stopped/)
    // The resume in the same check finishes the human's move.
    expect(outcomes[1]!.kind).toBe('resume')
    expect(outcomes[1]!.outcome).toMatch(/^1 done, /)
    expect(r.moves.find((m) => m.id === 'human-0000')?.phase).toBe('done')
    expect(r.moves.filter((m) => m.plan !== 'human')).toEqual([])
    // Nothing of the refused plan counts against --max-bytes-per-hour or cools its shards down.
    expect(r.state?.history.spent).toEqual([])
    expect(r.state?.history.movedAt).toEqual({})
    // autopilot status shows the refusal and the resume.
    expect(r.state?.decisions.map((d) => d.kind)).toEqual(['heal', 'resume'])
  })
})
