import {describe, expect, it} from 'vitest'
import {autopilotKeys, AutopilotStateSchema} from '../../src/autopilot/autopilotState.js'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {setNodeState} from '../../src/cluster/nodeService.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {UserError} from '../../src/errors/errors.js'
import {parseLockHolder} from '../../src/etcd/leaseLock.js'
import {listMoves} from '../../src/executor/moveStore.js'
import {type Txn} from '../../src/store/store.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {moveOf} from '../executor/fixtures.js'
import {cleanOneCheckDirs, runOneAutopilotCheck, sleepCountingClock} from './oneAutopilotCheck.js'

/**
 * One autopilot check (a heal: n3 is draining) with one fault injected at its k-th store
 * operation, for every k the fault-free check makes and every fault: the executor's lease
 * lapsing, a human's move recorded in the heal's way, a lock-ignoring writer changing a shard
 * of n3 before the heal records its moves, a human taking the executor lock, the autopilot
 * stopped (SIGTERM), one store operation failing (etcd briefly unreachable). Whatever happens, a plan of which moves ran is counted against the budget
 * and its outcome never says nothing of it ran, and a plan of which nothing ran is not counted
 * and says so: the budget is neither overspent nor spent on nothing.
 */
cleanOneCheckDirs()

type Fault = 'lease' | 'human-move' | 'map' | 'human-lock' | 'stop' | 'etcd'
const FAULTS: Fault[] = ['lease', 'human-move', 'map', 'human-lock', 'stop', 'etcd']
const SLEEPS_BEFORE_GIVING_UP = 2000

async function check(fault: Fault | undefined, at: number) {
  const store = new MemoryStore()
  const stop = new AbortController()
  // Every sleep of the check advances this clock: a check still sleeping after SLEEPS_BEFORE_GIVING_UP
  // is stopped and its leases lapse (which ends even a leader deaf to its stop), and it is reported.
  let hung = false
  const clock = sleepCountingClock(1_000_000, SLEEPS_BEFORE_GIVING_UP, () => {
    hung = true
    stop.abort()
    for (const id of store.leaseIds()) store.expireLease(id)
  })
  const ctx = makeServiceContext(store, {cluster: 'apsweep'}, () => new Date(clock.now))
  await initCluster(ctx, {shards: 6, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103'), force: false})
  for (const id of ['n1', 'n2', 'n3']) await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
  await setNodeState(ctx, 'n3', 'draining')
  let ops = 0
  let injected: Fault | undefined
  let injecting = false
  // Faults land in the check only, not in this test's reads after it.
  let done = false
  const raw = {get: store.get.bind(store), list: store.list.bind(store), commit: store.commit.bind(store)}
  const autopilotMoves = async () => (await raw.list(ctx.keys.movesPrefix)).items.some((kv) => !kv.key.includes('human'))
  const inject = async () => {
    if (injecting || done) return
    if (++ops !== at || injected || fault === undefined) return
    injecting = true
    try {
      const lock = await raw.get(ctx.keys.executorLock)
      const mine = lock !== undefined && parseLockHolder(lock.value)?.holder === 'autopilot a1'
      const shards = (await listShards(ctx)).shards.map((s) => s.value)
      if (fault === 'lease' && mine) store.expireLease(lock.lease)
      else if (fault === 'human-move') {
        const s = shards.find((x) => x.replicas[0]!.node === 'n1')!
        await raw.commit({compares: [], puts: [{key: ctx.keys.move('human-0000'), value: JSON.stringify(moveOf({id: 'human-0000', plan: 'human', shard: s.id, from: 'n1', to: 'n2', baseEpoch: s.epoch, epoch: s.epoch}))}]})
      } else if (fault === 'map' && !(await autopilotMoves())) {
        const s = shards.find((x) => x.replicas.some((r) => r.node === 'n3'))!
        await raw.commit({compares: [], puts: [{key: ctx.keys.shard(s.id), value: JSON.stringify({...s, epoch: s.epoch + 5})}]})
      } else if (fault === 'human-lock' && lock === undefined) {
        const lease = await store.grantLease(30)
        await raw.commit({compares: [], puts: [{key: ctx.keys.executorLock, value: JSON.stringify({holder: 'human apply', host: 'ops', pid: 1, acquiredAt: 't'}), lease: lease.id}]})
      } else if (fault === 'stop') stop.abort()
      else if (fault === 'etcd') {
        // This one store operation fails (etcd briefly unreachable); the next ones succeed.
        injected = fault
        throw new UserError('ETCD_UNREACHABLE', 'etcd unreachable (injected)')
      } else return
      injected = fault
    } finally {
      injecting = false
    }
  }
  store.get = (async (...a: Parameters<typeof raw.get>) => {
    await inject()
    return raw.get(...a)
  }) as typeof store.get
  store.list = (async (...a: Parameters<typeof raw.list>) => {
    await inject()
    return raw.list(...a)
  }) as typeof store.list
  store.commit = async (txn: Txn) => {
    await inject()
    return raw.commit(txn)
  }
  const events = await runOneAutopilotCheck(ctx, clock, {coolDownMs: 3_600_000, limit: 4, stop})
  done = true
  const moves = (await listMoves(ctx)).map((m) => m.value)
  const state = (await raw.get(autopilotKeys(ctx.keys.prefix).state)) && (await store.getTyped(autopilotKeys(ctx.keys.prefix).state, AutopilotStateSchema))?.value
  return {events, moves, state, ops, injected, hung}
}

describe('autopilot: one fault anywhere in a heal check', () => {
  it('Given one fault at any store operation of the check, When it ends, Then a plan counts against the budget exactly when moves of it were recorded, and its outcome says nothing of it ran exactly when none were', async () => {
    const clean = await check(undefined, 0)
    expect(clean.events.flatMap((e) => (e.type === 'outcome' ? [e.outcome] : []))).toEqual([expect.stringMatching(/^\d+ done, /)])
    const total = clean.ops
    expect(total).toBeGreaterThan(20)
    expect(total).toBeLessThan(400)
    const seen = new Map<string, number>()
    const wrong: string[] = []
    for (const fault of FAULTS) {
      for (let at = 1; at <= total; at++) {
        const r = await check(fault, at)
        if (!r.injected) continue
        if (r.hung) wrong.push(`${fault} at op ${at}: the check did not end (${r.events.filter((e) => e.type !== 'executor').map((e) => JSON.stringify(e).slice(0, 160)).join(' | ')})`)
        const outcomes = r.events.flatMap((e) => (e.type === 'outcome' && e.plan !== null && e.kind !== 'resume' ? [e] : []))
        const ran = (plan: string) => r.moves.some((m) => m.plan === plan)
        for (const o of outcomes) {
          const saysNothing = /nothing of (it|this plan) ran/.test(o.outcome)
          const key = `${fault}: ${o.outcome.replace(/[^:;(]*$/, '').slice(0, 70)}`
          seen.set(key, (seen.get(key) ?? 0) + 1)
          if (saysNothing === ran(o.plan!)) wrong.push(`${fault} at op ${at}: plan ${ran(o.plan!) ? 'ran' : 'did not run'} but the outcome reads: ${o.outcome}`)
        }
        if (r.events.some((e) => e.type === 'deposed')) wrong.push(`${fault} at op ${at}: deposed`)
        const counted = r.state?.history.spent.length ?? 0
        const started = new Set(outcomes.map((o) => o.plan!).filter(ran)).size
        if (counted !== started) wrong.push(`${fault} at op ${at}: ${counted} plan(s) counted against the budget, ${started} ran (${outcomes.map((o) => o.outcome.slice(0, 90)).join(' | ')})`)
      }
    }
    expect(wrong).toEqual([])
    // The sweep reached the refusals and stops it is about, not only checks the fault missed.
    const kinds = [...seen.keys()].join('\n')
    for (const expected of [/^lease: failed: the executor lost its lease on the executor lock before/m, /^lease: stopped: the executor lost its lease on the executor lock mid-run/m, /^human-move: refused \(CONFLICT\)/m, /^map: refused \(CONFLICT\)/m, /^human-lock: deferred/m, /^stop: stopped before it split or recorded anything/m, /^etcd: failed: etcd unreachable \(injected\); nothing of it ran/m]) {
      expect(kinds).toMatch(expected)
    }
  }, 600_000)
})
