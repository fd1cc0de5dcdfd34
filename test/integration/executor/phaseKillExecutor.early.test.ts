import {afterAll, beforeAll, describe, inject, it} from 'vitest'
import {killExecutorAround, PhaseKillWorld} from './phaseKillWorld.js'

/**
 * The executor SIGKILLed before and after each of the early phases of a move, on real
 * processes (phaseKillExecutor.*.test.ts together cover every forward phase boundary; split
 * only to keep each file short). For each phase X, `apply --resume` (dist/) kills itself
 * (SHARDCTL_TEST_PHASE_FAULT, src/executor/phaseFault.ts) right before it commits X; a fresh
 * one, once the dead one's lock expired as its lease's TTL would, kills itself right after
 * etcd acknowledged X; a third finishes the move. All under a client load of writes, deletes
 * and reads through two routers, rf 1 (the move must carry every write). Checked: each kill
 * landed at its boundary (etcd holds the phase before X, then X); the move ends `done` with
 * the shard on its destination alone; no acknowledged write is lost, no read is stale or out
 * of real-time order, no deleted key comes back (test/chaos/checker.ts); the replicas agree
 * and every node serves exactly what the shard map says.
 */

const PHASES = ['checked', 'joining', 'copying'] as const

describe('the executor SIGKILLed before and after each early phase of a move, then taken over', {timeout: 150_000}, () => {
  let w: PhaseKillWorld
  beforeAll(async () => {
    w = new PhaseKillWorld(inject('etcdEndpoint'), 'phase-kill-exec-early')
    await w.start(3, 3, 1)
  }, 90_000)
  afterAll(() => w?.teardown())

  it.each(PHASES.map((phase, i) => ({phase, i})))('killed before and after $phase: the takeover finishes the move and nothing acknowledged is lost', ({phase, i}) => killExecutorAround(w, phase, i))
})
