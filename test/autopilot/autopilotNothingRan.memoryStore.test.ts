import {describe, expect, it} from 'vitest'
import {autopilotKeys, AutopilotStateSchema} from '../../src/autopilot/autopilotState.js'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {addNode, removeNode, setNodeState} from '../../src/cluster/nodeService.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {parseLockHolder} from '../../src/etcd/leaseLock.js'
import {listMoves} from '../../src/executor/moveStore.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {cleanOneCheckDirs, expectNothingCounted, runOneAutopilotCheck} from './oneAutopilotCheck.js'

/**
 * Applies of the autopilot that end before they split or record anything of the plan, other
 * than by the four refusals told by class: a plan of which nothing ran must cost no
 * --max-bytes-per-hour budget and cool no shard down (a heal of a dead node's replicas would
 * otherwise wait up to an hour for a budget spent by nothing), and its outcome must not say it
 * ran. The real runAutopilot on a memory store with fake node effects; n3 is draining, so the
 * check heals.
 */
cleanOneCheckDirs()

async function world(cluster: string, nodes: string, rf = 1) {
  const clock = {now: 1_000_000}
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster}, () => new Date(clock.now))
  const specs = parseNodeSpecs(nodes)
  await initCluster(ctx, {shards: 6, rf, nodes: specs.slice(0, 3), force: false})
  // Nodes after the third join empty (initCluster spreads the shards over the first three).
  for (const s of specs.slice(3)) await addNode(ctx, s, undefined)
  for (const s of specs) await store.put(ctx.keys.alive(s.id), JSON.stringify({node: s.id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
  await setNodeState(ctx, 'n3', 'draining')
  const state = async () => (await store.getTyped(autopilotKeys(ctx.keys.prefix).state, AutopilotStateSchema))?.value
  return {clock, store, ctx, state}
}

describe('autopilot: an apply that ends before it changed anything', () => {
  it('Given the executor\'s lease is lost just after it took the executor lock, while it preflights, When the apply stops before splitting or recording anything, Then the outcome says nothing of it ran (not that moves ran and wait for a resume), and the plan costs no budget and cools nothing down', async () => {
    const w = await world('apleasepre', 'n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103')
    let lost = 0
    const get = w.store.get.bind(w.store)
    w.store.get = (async (key: string, ...rest: unknown[]) => {
      const kv = await (get as (...a: unknown[]) => Promise<Awaited<ReturnType<typeof get>>>)(key, ...rest)
      // The executor reads the lock key (readRecordings) right after taking it: its lease lapses there (a long pause, etcd away past the TTL).
      if (key === w.ctx.keys.executorLock && kv && lost === 0 && parseLockHolder(kv.value)?.holder === 'autopilot a1') {
        lost++
        w.store.expireLease(kv.lease)
      }
      return kv
    }) as typeof w.store.get
    const events = await runOneAutopilotCheck(w.ctx, w.clock, {coolDownMs: 3_600_000, limit: 4})
    expect(lost).toBe(1)
    expect(events.filter((e) => e.type === 'deposed')).toEqual([])
    expect(await listMoves(w.ctx)).toEqual([])
    // Budget first: a heal waiting an hour for bytes spent by nothing is the harm.
    const s = await w.state()
    expectNothingCounted(s)
    const outcomes = events.flatMap((e) => (e.type === 'outcome' ? [e] : []))
    expect(outcomes).toHaveLength(1)
    expect(outcomes[0]!.kind).toBe('heal')
    expect(outcomes[0]!.outcome).toMatch(/^failed: the executor lost its lease on the executor lock before it split or recorded anything of the plan \(.*\); nothing of it ran; next check in 60s/)
    expect(outcomes[0]!.outcome).not.toMatch(/mid-run|resumes the unfinished moves/)
  })

  it('Given the autopilot is stopped (SIGTERM) just after its apply took the executor lock, When the apply stops before splitting or recording anything, Then the state it leaves the next leader counts nothing of that plan', async () => {
    const w = await world('apstoppre', 'n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103')
    const stop = new AbortController()
    const get = w.store.get.bind(w.store)
    w.store.get = (async (key: string, ...rest: unknown[]) => {
      const kv = await (get as (...a: unknown[]) => Promise<Awaited<ReturnType<typeof get>>>)(key, ...rest)
      if (key === w.ctx.keys.executorLock && kv && !stop.signal.aborted && parseLockHolder(kv.value)?.holder === 'autopilot a1') stop.abort()
      return kv
    }) as typeof w.store.get
    const events = await runOneAutopilotCheck(w.ctx, w.clock, {coolDownMs: 3_600_000, limit: 4, stop})
    expect(stop.signal.aborted).toBe(true)
    expect(await listMoves(w.ctx)).toEqual([])
    const s = await w.state()
    expectNothingCounted(s)
    const outcomes = events.flatMap((e) => (e.type === 'outcome' ? [e] : []))
    expect(outcomes).toHaveLength(1)
    expect(outcomes[0]!.outcome).toMatch(/^stopped before it split or recorded anything .*nothing of it ran/)
    expect(s?.decisions.at(-1)?.outcome).toBe(outcomes[0]!.outcome)
  })

  it('Given the empty node the heal fills is removed between the check\'s look and its apply, When the apply refuses the plan naming the unknown node (nothing changed), Then the check re-plans at once onto the nodes there are, and only the plan that ran is counted', async () => {
    // Zones a (n1, n2) and b (n3, n4), rf 2: n3's replicas go to n4, the other node of zone b.
    const w = await world('apnodegone', 'n1=127.0.0.1:7101@a,n2=127.0.0.1:7102@a,n3=127.0.0.1:7103@b,n4=127.0.0.1:7104@b', 2)
    let grants = 0
    const grant = w.store.grantLease.bind(w.store)
    w.store.grantLease = async (ttl) => {
      // Grant 1 is the autopilot's leadership lock; grant 2 the executor lock of its first apply: n4 is removed just before.
      if (++grants === 2) {
        await removeNode(w.ctx, 'n4')
        await w.store.delete(w.ctx.keys.alive('n4'))
      }
      return grant(ttl)
    }
    const events = await runOneAutopilotCheck(w.ctx, w.clock, {coolDownMs: 3_600_000, limit: 4})
    expect(grants).toBeGreaterThanOrEqual(2)
    expect(events.filter((e) => e.type === 'deposed')).toEqual([])
    const decisions = events.flatMap((e) => (e.type === 'decision' ? [e] : []))
    const outcomes = events.flatMap((e) => (e.type === 'outcome' ? [e] : []))
    // Only a plan that ran is counted: the refused one costs no budget.
    const ran = new Set((await listMoves(w.ctx)).map((m) => m.value.plan))
    expect((await w.state())?.history.spent).toHaveLength(ran.size)
    // The first heal was made for n4 (the other node of zone b): refused, nothing of it ran.
    expect(outcomes[0]!.outcome).toMatch(/names node "n4".*nothing was changed/)
    expect(outcomes[0]!.outcome).toMatch(/^refused \(CONFLICT\): .*re-planning now/)
    expect(outcomes[0]!.outcome).not.toMatch(/executor stopped/)
    // The same check looked again at the cluster as it is now (no n4), instead of counting a plan that never ran.
    expect(decisions.length).toBeGreaterThanOrEqual(2)
    expect(decisions[1]!.plan).not.toBe(null)
    expect(outcomes[1]!.outcome).not.toMatch(/refused|failed/)
    expect([...ran]).toEqual([decisions[1]!.plan])
    expect((await listShards(w.ctx)).shards.filter((x) => x.value.replicas.some((r) => r.node === 'n4'))).toEqual([])
  })
})
