import {afterAll, beforeAll, describe, inject, it} from 'vitest'
import {killPartyAt, PhaseKillWorld} from './phaseKillWorld.js'

/**
 * A router SIGKILLed exactly at phase boundaries of a move, on real processes: the
 * executor (`apply --resume` from dist/) stops itself right after etcd acknowledged the phase
 * (SHARDCTL_TEST_PHASE_FAULT, src/executor/phaseFault.ts), the router is SIGKILLed there, the
 * executor goes on (SIGCONT) while the router restarts (a new router in its place), under a client load of
 * writes, deletes and reads through two routers, rf 2 on 4 nodes. Checked: the move ends
 * `done`; no acknowledged write is lost, no read is stale or out of
 * real-time order, no deleted key comes back (test/chaos/checker.ts); the replicas agree and
 * every node serves exactly what the shard map says. phaseKillExecutor.*.test.ts kills the
 * executor itself at every boundary.
 */

const PHASES = ['joining', 'promoting', 'cutover'] as const

describe('the router SIGKILLed at phase boundaries of a move', {timeout: 150_000}, () => {
  let w: PhaseKillWorld
  beforeAll(async () => {
    w = new PhaseKillWorld(inject('etcdEndpoint'), 'phase-kill-router')
    await w.start(4, 4, 2)
  }, 90_000)
  afterAll(() => w?.teardown())

  it.each(PHASES.map((phase, i) => ({phase, i})))('killed right after $phase: the move ends consistently and nothing acknowledged is lost', ({phase, i}) => killPartyAt(w, 'router', phase, i))
})
