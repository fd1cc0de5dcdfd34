import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {readRecordings} from '../../src/executor/moveRecording.js'
import {listMoves} from '../../src/executor/moveStore.js'
import {type Txn} from '../../src/store/store.js'
import {cleanOneCheckDirs, drainingN3Cluster, runOneAutopilotCheck} from './oneAutopilotCheck.js'

/**
 * The autopilot's `apply` fails with CONFLICT *after* it changed the cluster: the executor's
 * lease lapses (its lock goes) between two of the transactions that record a heal plan of
 * more moves than one transaction holds, so the first batch of moves is recorded and the rest
 * stay in the plan's `recording/` list. The autopilot's own leadership lease is unaffected.
 * That is not a refusal before anything changed: the recorded moves (and the list's) are the
 * plan's and will run (the next check resumes them), so the plan's bytes and cool-downs must
 * stay counted, and the check must not plan afresh as if nothing had happened.
 * The real runAutopilot on a memory store with fake node effects; node n3 is draining.
 */
cleanOneCheckDirs()

async function run() {
  const {clock, store, ctx, state} = await drainingN3Cluster('aprec', 450)
  const onN3Before = (await listShards(ctx)).shards.filter((s) => s.value.replicas.some((r) => r.node === 'n3')).length
  if (onN3Before <= 100) throw new Error(`n3 holds ${onN3Before} shards; the test needs more than one transaction of moves (100)`)
  // The executor's lease lapses just before its second transaction creating move records.
  const commit = store.commit.bind(store)
  let creates = 0
  let lapsed = 0
  store.commit = async (txn: Txn) => {
    const createsMoves = (txn.puts ?? []).some((p) => p.key.startsWith(ctx.keys.movesPrefix)) && txn.compares.some((c) => c.key.startsWith(ctx.keys.movesPrefix) && 'createRevision' in c)
    if (createsMoves && ++creates === 2) {
      const lock = await store.get(ctx.keys.executorLock)
      if (lock) {
        store.expireLease(lock.lease)
        lapsed++
      }
    }
    return commit(txn)
  }
  const events = await runOneAutopilotCheck(ctx, clock, {coolDownMs: 3_600_000, limit: 50})
  return {ctx, events, lapsed, onN3Before, moves: (await listMoves(ctx)).map((m) => m.value), history: (await state())?.history}
}

describe('autopilot: an apply that fails with CONFLICT after it recorded moves', () => {
  it('Given the executor lease lapses between two transactions recording a heal plan, When the check ends, Then the plan counts as started (bytes spent, shards cooling down), the outcome does not call it refused, and the autopilot stays leader with the plan\'s moves left for a resume', async () => {
    const r = await run()
    expect(r.lapsed).toBe(1)
    expect(r.events.filter((e) => e.type === 'deposed')).toEqual([])
    const decisions = r.events.flatMap((e) => (e.type === 'decision' ? [e] : []))
    const heal = decisions.find((d) => d.kind === 'heal')
    expect(heal?.plan).toBeTruthy()
    // Part of the plan is recorded (and the rest is in its list): the plan did change the cluster.
    const recorded = r.moves.filter((m) => m.plan === heal!.plan)
    expect(recorded.length).toBeGreaterThan(0)
    const outcomes = r.events.flatMap((e) => (e.type === 'outcome' ? [e.outcome] : []))
    expect(outcomes[0]).not.toMatch(/refused/)
    // Its bytes and cool-downs are counted: the moves it recorded run (now or at a resume).
    expect(r.history?.spent).toHaveLength(1)
    const moved = new Set(recorded.map((m) => String(m.shard)))
    expect(Object.keys(r.history?.movedAt ?? {}).filter((s) => moved.has(s)).length).toBe(moved.size)
    // Nothing of it is lost: every move it named is recorded or still listed for the next executor.
    const listed = (await readRecordings(r.ctx)).filter((x) => x.plan === heal!.plan)
    expect(recorded.length + listed.reduce((n, x) => n + x.named - x.recorded, 0)).toBe(r.onN3Before)
  })
})
