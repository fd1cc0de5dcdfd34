import {describe, expect, it} from 'vitest'
import {CONFLICT_ATTEMPTS} from '../../src/autopilot/autopilotLoop.js'
import {autopilotKeys, AutopilotStateSchema} from '../../src/autopilot/autopilotState.js'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {setNodeState} from '../../src/cluster/nodeService.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {listMoves} from '../../src/executor/moveStore.js'
import {type Move, MoveSchema} from '../../src/model/move.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {moveOf} from '../executor/fixtures.js'
import {beforeExecutorLockGrant, cleanOneCheckDirs, drainingN3Cluster, expectNothingCounted, runOneAutopilotCheck} from './oneAutopilotCheck.js'

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
    expectNothingCounted(r.state)
    // autopilot status shows the refusal and the resume.
    expect(r.state?.decisions.map((d) => d.kind)).toEqual(['heal', 'resume'])
  })
})

describe('autopilot: refusals for other plans\' unfinished moves that the check never sees', () => {
  // A human's apply records a move just before each apply of the autopilot takes the executor
  // lock, and finishes it as soon as the autopilot's apply lets the lock go: every observation
  // sees nothing unfinished, so decide() never resumes, and every re-plan is refused again.
  it('Given every apply of the check is refused for a move that is gone by the next look, When the check re-plans, Then it stops after CONFLICT_ATTEMPTS plans, says it gave up until the next check, and counts none of them', async () => {
    const clock = {now: 1_000_000}
    const store = new MemoryStore()
    const ctx = makeServiceContext(store, {cluster: 'apucloop'}, () => new Date(clock.now))
    await initCluster(ctx, {shards: 6, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103'), force: false})
    for (const id of ['n1', 'n2', 'n3']) await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
    await setNodeState(ctx, 'n3', 'draining')
    const onN1 = (await listShards(ctx)).shards.map((s) => s.value).find((s) => s.replicas.some((r) => r.node === 'n1'))!
    let grants = 0
    let human: Move | undefined
    const grant = store.grantLease.bind(store)
    store.grantLease = async (ttl) => {
      // Grant 1 is the leadership lock; every later one an apply of the autopilot taking the executor lock.
      if (++grants >= 2 && grants < 20) {
        human = MoveSchema.parse(moveOf({id: `human-${grants}`, plan: `human-${grants}`, shard: onN1.id, from: 'n1', to: 'n2', baseEpoch: onN1.epoch, epoch: onN1.epoch}))
        await store.put(ctx.keys.move(human.id), JSON.stringify(human))
      }
      return grant(ttl)
    }
    const commit = store.commit.bind(store)
    store.commit = async (txn) => {
      const rev = await commit(txn)
      // The autopilot's apply lets the executor lock go: the human's move is let go too (cancelled before it started).
      if ((txn.deletes ?? []).includes(ctx.keys.executorLock) && human) {
        await store.put(ctx.keys.move(human.id), JSON.stringify({...human, phase: 'aborted'}))
        human = undefined
      }
      return rev
    }
    const events = await runOneAutopilotCheck(ctx, clock, {coolDownMs: 3_600_000, limit: 4})
    expect(events.filter((e) => e.type === 'deposed')).toEqual([])
    const outcomes = events.flatMap((e) => (e.type === 'outcome' ? [e] : []))
    expect(outcomes.map((o) => o.kind)).toEqual(Array(CONFLICT_ATTEMPTS).fill('heal'))
    for (const o of outcomes.slice(0, -1)) expect(o.outcome).toMatch(/^refused \(CONFLICT\): .*nothing of this plan ran; resuming those moves first/)
    expect(outcomes.at(-1)!.outcome).toMatch(new RegExp(`^failed: refused with CONFLICT ${CONFLICT_ATTEMPTS} times in a row; .*nothing of this plan ran; next check in 60s \\(way out: finish those moves`))
    expect(grants).toBe(1 + CONFLICT_ATTEMPTS)
    const state = (await store.getTyped(autopilotKeys(ctx.keys.prefix).state, AutopilotStateSchema))?.value
    expectNothingCounted(state)
    expect((await listMoves(ctx)).filter((m) => !m.value.plan.startsWith('human'))).toEqual([])
  })
})
