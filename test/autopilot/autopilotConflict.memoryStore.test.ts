import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {listMoves} from '../../src/executor/moveStore.js'
import {cleanOneCheckDirs, drainingN3Cluster, runOneAutopilotCheck} from './oneAutopilotCheck.js'

/**
 * The autopilot's `apply` is refused with CONFLICT (the shard map changed between the
 * preflight and the go-ahead, by a writer that ignored the executor lock). The real
 * runAutopilot on a memory store with fake node effects: node n3 is draining, so the first
 * check heals (moves n3's replicas away). The lock-ignoring writer bumps the epoch of one of
 * n3's shards just after the executor's first read of the map under the lock.
 */
cleanOneCheckDirs()

async function run(conflicts: number) {
  const {clock, store, ctx, state} = await drainingN3Cluster('ap')
  // The lock-ignoring writer: right after the executor first lists the shards while holding its lock.
  let injected = 0
  let injecting = false
  let executorRuns = 0
  const listTyped = store.listTyped.bind(store)
  store.listTyped = (async (prefix: string, ...rest: unknown[]) => {
    const out = await (listTyped as (...a: unknown[]) => Promise<unknown>)(prefix, ...rest)
    if (!injecting && prefix === ctx.keys.shardsPrefix && injected < conflicts && (await store.get(ctx.keys.executorLock)) !== undefined) {
      injected++
      injecting = true
      const s = (await listShards(ctx)).shards.map((x) => x.value).find((x) => x.replicas.some((r) => r.node === 'n3'))!
      await store.put(ctx.keys.shard(s.id), JSON.stringify({...s, epoch: s.epoch + 5}))
      injecting = false
    }
    return out
  }) as typeof store.listTyped
  const grant = store.grantLease.bind(store)
  store.grantLease = async (ttl) => {
    // Every executor run takes the executor lock (the autopilot's own lock is taken once, first).
    executorRuns++
    return grant(ttl)
  }
  const events = await runOneAutopilotCheck(ctx, clock, {coolDownMs: 0, limit: 4})
  const onN3 = (await listShards(ctx)).shards.filter((s) => s.value.replicas.some((r) => r.node === 'n3')).length
  return {events, onN3, executorRuns: executorRuns - 1, injected, moves: (await listMoves(ctx)).map((m) => m.value), spent: (await state())?.history.spent ?? []}
}

describe('autopilot: an apply refused with CONFLICT', () => {
  it('Given the map changes once between the preflight and the go-ahead, When the autopilot heals, Then it re-plans at once in the same check, stays leader, and the heal completes', async () => {
    const r = await run(1)
    expect(r.injected).toBe(1)
    expect(r.events.filter((e) => e.type === 'deposed')).toEqual([])
    expect(r.events.filter((e) => e.type === 'leader')).toHaveLength(1)
    expect(r.executorRuns).toBe(2)
    const outcomes = r.events.flatMap((e) => (e.type === 'outcome' ? [e.outcome] : []))
    expect(outcomes).toHaveLength(2)
    expect(outcomes[0]).toMatch(/^refused \(CONFLICT\): the shard map changed .*; re-planning now \(attempt 1 of 3\)/)
    expect(outcomes[1]).toMatch(/^\d+ done, /)
    expect(r.onN3).toBe(0)
    // Only the plan that ran counts against --max-bytes-per-hour: the refused one did nothing.
    expect(r.spent).toHaveLength(1)
  })

  it('Given the map changes before every go-ahead, When the autopilot heals, Then it tries a bounded number of times in that check, stays leader, and says it gave up until the next check', async () => {
    const r = await run(Number.POSITIVE_INFINITY)
    expect(r.events.filter((e) => e.type === 'deposed')).toEqual([])
    expect(r.events.filter((e) => e.type === 'leader')).toHaveLength(1)
    expect(r.executorRuns).toBe(3)
    const outcomes = r.events.flatMap((e) => (e.type === 'outcome' ? [e.outcome] : []))
    expect(outcomes).toHaveLength(3)
    expect(outcomes[2]).toMatch(/^failed: refused with CONFLICT 3 times in a row .*next check in 60s/)
    expect(r.moves).toEqual([])
    expect(r.spent).toEqual([])
  })
})
