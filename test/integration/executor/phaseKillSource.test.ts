import {afterAll, beforeAll, describe, inject, it} from 'vitest'
import {killPartyAt, PhaseKillWorld} from './phaseKillWorld.js'

/**
 * The move's source SIGKILLed exactly at phase boundaries of a move, on real processes: the
 * executor (`apply --resume` from dist/) stops itself right after etcd acknowledged the phase
 * (SHARDCTL_TEST_PHASE_FAULT, src/executor/phaseFault.ts), the source is SIGKILLed there, the
 * executor goes on (SIGCONT) while the source restarts (on its data dir), under a client load of
 * writes, deletes and reads through two routers, rf 2 on 4 nodes. Checked: the move ends
 * `done`, or aborted cleanly (the shard back on its old set); no acknowledged write is lost, no read is stale or out of
 * real-time order, no deleted key comes back (test/chaos/checker.ts); the replicas agree and
 * every node serves exactly what the shard map says. phaseKillExecutor.*.test.ts kills the
 * executor itself at every boundary.
 */

const PHASES = ['copying', 'promoting', 'verifying', 'cutover'] as const

describe('the source SIGKILLed at phase boundaries of a move', {timeout: 120_000}, () => {
  let w: PhaseKillWorld
  beforeAll(async () => {
    w = new PhaseKillWorld(inject('etcdEndpoint'), 'phase-kill-source')
    await w.start(4, 4, 2)
  }, 90_000)
  afterAll(() => w?.teardown())

  it.each(PHASES.map((phase, i) => ({phase, i})))('killed right after $phase: the move ends consistently and nothing acknowledged is lost', ({phase, i}) => killPartyAt(w, 'source', phase, i))
})
