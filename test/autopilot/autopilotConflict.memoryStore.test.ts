import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {type AutopilotEvent, runAutopilot} from '../../src/autopilot/autopilotLoop.js'
import {autopilotKeys, AutopilotStateSchema} from '../../src/autopilot/autopilotState.js'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {setNodeState} from '../../src/cluster/nodeService.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {DEFAULT_EXECUTOR_OPTIONS} from '../../src/executor/executorEnv.js'
import {type MoveEffects} from '../../src/executor/moveEffects.js'
import {commitMoveTransition, listMoves} from '../../src/executor/moveStore.js'
import {MemoryStore} from '../../src/store/memoryStore.js'

/**
 * The autopilot's `apply` is refused with CONFLICT (the shard map changed between the
 * preflight and the go-ahead, by a writer that ignored the executor lock). The real
 * runAutopilot on a memory store with fake node effects: node n3 is draining, so the first
 * check heals (moves n3's replicas away). The lock-ignoring writer bumps the epoch of one of
 * n3's shards just after the executor's first read of the map under the lock.
 */
const INTERVAL_MS = 60_000
const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
})

async function run(conflicts: number) {
  let now = 1_000_000
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'ap'}, () => new Date(now))
  await initCluster(ctx, {shards: 6, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103'), force: false})
  for (const id of ['n1', 'n2', 'n3']) await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
  await setNodeState(ctx, 'n3', 'draining')
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
  const stop = new AbortController()
  const events: AutopilotEvent[] = []
  const effects: MoveEffects = {barrier: async () => {}, copy: async (env, m) => commitMoveTransition(env.ctx, env.fence, m, {phase: 'verifying'}), verify: async () => {}, drain: async () => {}, drop: async () => 0, catchUp: async () => {}}
  const dir = mkdtempSync(join(tmpdir(), 'ap-conflict-'))
  dirs.push(dir)
  store.grantLease = async (ttl) => {
    // Every executor run takes the executor lock (the autopilot's own lock is taken once, first).
    executorRuns++
    return grant(ttl)
  }
  await runAutopilot(
    ctx,
    {
      id: 'a1',
      policy: {deadAfterMs: 5000, rebalanceAbove: 100, forMs: 0, coolDownMs: 0, maxBytesPerHour: null, planOptions: {}},
      intervalMs: INTERVAL_MS,
      leaseTtlSeconds: 10,
      dryRun: false,
      limits: {maxConcurrent: 4, perNode: 4, incomingPerNode: 4},
      throttle: null,
      healThrottle: null,
      nodeThrottle: null,
      options: DEFAULT_EXECUTOR_OPTIONS,
      plansDir: dir,
    },
    {
      now: () => now,
      // The first wait of a whole interval ends the test: one check, whatever it did.
      sleep: async (ms) => {
        now += ms
        if (ms === INTERVAL_MS) stop.abort()
      },
      report: (ev) => {
        events.push(ev)
        if (ev.type === 'deposed') stop.abort()
      },
      effects,
    },
    stop.signal,
  )
  const onN3 = (await listShards(ctx)).shards.filter((s) => s.value.replicas.some((r) => r.node === 'n3')).length
  const state = (await store.getTyped(autopilotKeys(ctx.keys.prefix).state, AutopilotStateSchema))?.value
  return {events, onN3, executorRuns: executorRuns - 1, injected, moves: (await listMoves(ctx)).map((m) => m.value), spent: state?.history.spent ?? []}
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
