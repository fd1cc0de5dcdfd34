import {afterAll, beforeAll, describe, inject, it} from 'vitest'
import {killPartyAt, PhaseKillWorld} from './phaseKillWorld.js'

/**
 * The move's source, then (another move) its destination, SIGKILLed right after etcd
 * acknowledged `cutover` (phaseKillNodes.*.test.ts: one file per boundary, to keep each
 * short), on real processes: the executor (`apply --resume` from dist/) stops itself there
 * (SHARDCTL_TEST_PHASE_FAULT=after:cutover:stop, src/executor/phaseFault.ts), the node is
 * SIGKILLed, the executor goes on (SIGCONT) while the node restarts on its data dir, under a
 * client load of writes, deletes and reads through two routers, rf 2 on 4 nodes. Checked: the
 * move ends `done`, or aborted cleanly (the shard back on its old set); no acknowledged write
 * is lost, no read is stale or out of real-time order, no deleted key comes back
 * (test/chaos/checker.ts); the replicas agree and every node serves exactly what the shard map
 * says.
 */

describe('a node of the move SIGKILLed right after cutover', {timeout: 150_000}, () => {
  let w: PhaseKillWorld
  beforeAll(async () => {
    w = new PhaseKillWorld(inject('etcdEndpoint'), 'phase-kill-cutover')
    await w.start(4, 4, 2)
  }, 90_000)
  afterAll(() => w?.teardown())

  it.each([{party: 'source' as const, i: 0}, {party: 'destination' as const, i: 1}])('$party killed: the move ends consistently and nothing acknowledged is lost', ({party, i}) => killPartyAt(w, party, 'cutover', i))
})
