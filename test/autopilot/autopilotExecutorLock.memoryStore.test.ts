import {describe, expect, it} from 'vitest'
import {autopilotKeys, AutopilotStateSchema} from '../../src/autopilot/autopilotState.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {setNodeState} from '../../src/cluster/nodeService.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {type MoveEffects} from '../../src/executor/moveEffects.js'
import {commitMoveTransition, listMoves} from '../../src/executor/moveStore.js'
import {type Txn} from '../../src/store/store.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {cleanOneCheckDirs, runOneAutopilotCheck} from './oneAutopilotCheck.js'

/**
 * The two ways the executor lock stops an `apply` of the autopilot, which are not the same:
 * a human takes the lock between the check and its apply (LOCK_HELD before anything ran: the
 * autopilot defers, and the plan that never ran costs no budget), and the executor's own lease
 * on the lock is lost mid-run (LockLostError: moves ran, the rest wait for a resume; no human
 * is involved). The real runAutopilot on a memory store with fake node effects; node n3 is
 * draining, so the check heals (moves n3's replicas away).
 */
cleanOneCheckDirs()

async function world(cluster: string) {
  const clock = {now: 1_000_000}
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster}, () => new Date(clock.now))
  await initCluster(ctx, {shards: 6, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103'), force: false})
  for (const id of ['n1', 'n2', 'n3']) await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
  await setNodeState(ctx, 'n3', 'draining')
  const state = async () => (await store.getTyped(autopilotKeys(ctx.keys.prefix).state, AutopilotStateSchema))?.value
  return {clock, store, ctx, state}
}

describe('autopilot: the executor lock stops its apply', () => {
  it('Given a human apply takes the executor lock between the check and its apply, When the autopilot defers, Then it names the holder and the plan that never ran costs no budget and cools nothing down', async () => {
    const w = await world('aplockheld')
    let grants = 0
    const grant = w.store.grantLease.bind(w.store)
    w.store.grantLease = async (ttl) => {
      // Grant 1 is the autopilot's leadership lock; grant 2 the executor lock of its apply: a human's lands first.
      if (++grants === 2) {
        const human = await grant(30)
        await w.store.commit({compares: [], puts: [{key: w.ctx.keys.executorLock, value: JSON.stringify({holder: 'shardctl apply plans/human.json', host: 'ops1', pid: 4242, acquiredAt: 't'}), lease: human.id}]})
      }
      return grant(ttl)
    }
    const events = await runOneAutopilotCheck(w.ctx, w.clock, {coolDownMs: 3_600_000, limit: 4})
    const outcomes = events.flatMap((e) => (e.type === 'outcome' ? [e] : []))
    expect(outcomes).toHaveLength(1)
    expect(outcomes[0]!.kind).toBe('heal')
    expect(outcomes[0]!.outcome).toMatch(/^deferred: .*is held by shardctl apply plans\/human\.json.*; nothing of it ran; the next check waits for that holder/)
    expect(await listMoves(w.ctx)).toEqual([])
    const s = await w.state()
    expect(s?.history.spent).toEqual([])
    expect(s?.history.movedAt).toEqual({})
  })

  it('Given the executor\'s lease lapses while its apply takes the executor lock, When the apply is refused, Then the outcome says the lock could not be taken (not that the executor stopped), and the plan that never ran costs no budget', async () => {
    const w = await world('aplocklapsed')
    let lapsed = 0
    const commit = w.store.commit.bind(w.store)
    w.store.commit = async (txn: Txn) => {
      const rev = await commit(txn)
      // The executor lock's key was just written under its lease: the lease lapses before the taker checks it.
      const put = (txn.puts ?? []).find((p) => p.key === w.ctx.keys.executorLock && p.lease !== undefined)
      if (put && rev !== undefined && lapsed === 0) {
        w.store.expireLease(put.lease!)
        lapsed++
      }
      return rev
    }
    const events = await runOneAutopilotCheck(w.ctx, w.clock, {coolDownMs: 3_600_000, limit: 4})
    expect(lapsed).toBe(1)
    expect(events.filter((e) => e.type === 'deposed')).toEqual([])
    const outcomes = events.flatMap((e) => (e.type === 'outcome' ? [e] : []))
    expect(outcomes).toHaveLength(1)
    expect(outcomes[0]!.outcome).toMatch(/^failed: could not take the executor lock \(.*the lease expired while the lock was being taken\); nothing of it ran; next check in 60s/)
    expect(await listMoves(w.ctx)).toEqual([])
    const s = await w.state()
    expect(s?.history.spent).toEqual([])
    expect(s?.history.movedAt).toEqual({})
  })

  it('Given the executor\'s lock changes hands under it (its lease lapsed in etcd, another executor took the lock) while it copies, When its next fenced write fails (LockLostError), Then the outcome says the lease was lost, not that it deferred to a human, and the plan counts as started', async () => {
    const w = await world('aplockfenced')
    let takenOver = 0
    const effects: MoveEffects = {
      barrier: async () => {},
      copy: async (env, m) => {
        // The key goes with the lapsed lease and a resume elsewhere takes the lock; this executor has not noticed yet.
        if (takenOver === 0) {
          takenOver++
          const other = await w.store.grantLease(30)
          await w.store.commit({compares: [], deletes: [w.ctx.keys.executorLock]})
          await w.store.commit({compares: [], puts: [{key: w.ctx.keys.executorLock, value: JSON.stringify({holder: 'shardctl apply --resume', host: 'ops2', pid: 7, acquiredAt: 't'}), lease: other.id}]})
        }
        return commitMoveTransition(env.ctx, env.fence, m, {phase: 'verifying'})
      },
      verify: async () => {},
      drain: async () => {},
      drop: async () => 0,
      catchUp: async () => {},
    }
    const events = await runOneAutopilotCheck(w.ctx, w.clock, {coolDownMs: 3_600_000, limit: 1, effects})
    expect(takenOver).toBe(1)
    expect(events.filter((e) => e.type === 'deposed')).toEqual([])
    const outcomes = events.flatMap((e) => (e.type === 'outcome' ? [e] : []))
    expect(outcomes).toHaveLength(1)
    expect(outcomes[0]!.outcome).not.toMatch(/^deferred/)
    expect(outcomes[0]!.outcome).toMatch(/^stopped: the executor lost its lease on the executor lock mid-run \(the executor lost its lock .*\); the next check resumes the unfinished moves once the executor lock is free; plan \S+\.json$/)
    const moves = (await listMoves(w.ctx)).map((m) => m.value)
    expect(moves.length).toBeGreaterThan(0)
    expect((await w.state())?.history.spent).toHaveLength(1)
  })

  it('Given the executor\'s lease on its lock is lost while it copies, When the apply ends, Then the outcome says the lease was lost (not that a human took the lock), the plan counts as started, and the autopilot stays leader', async () => {
    const w = await world('aplocklost')
    let lapsed = 0
    const effects: MoveEffects = {
      barrier: async () => {},
      copy: async (env, m) => {
        // The executor's lease lapses (etcd unreachable past its TTL) under the first copy.
        const lock = await w.store.get(w.ctx.keys.executorLock)
        if (lock && lapsed === 0) {
          w.store.expireLease(lock.lease)
          lapsed++
        }
        return commitMoveTransition(env.ctx, env.fence, m, {phase: 'verifying'})
      },
      verify: async () => {},
      drain: async () => {},
      drop: async () => 0,
      catchUp: async () => {},
    }
    const events = await runOneAutopilotCheck(w.ctx, w.clock, {coolDownMs: 3_600_000, limit: 1, effects})
    expect(lapsed).toBe(1)
    expect(events.filter((e) => e.type === 'deposed')).toEqual([])
    const outcomes = events.flatMap((e) => (e.type === 'outcome' ? [e] : []))
    expect(outcomes).toHaveLength(1)
    expect(outcomes[0]!.kind).toBe('heal')
    expect(outcomes[0]!.outcome).not.toMatch(/deferred|human/)
    expect(outcomes[0]!.outcome).toMatch(/^stopped: the executor lost its lease on the executor lock mid-run .*the next check resumes the unfinished moves/)
    // Its moves are recorded and unfinished: the plan started, so its bytes and cool-downs count.
    const moves = (await listMoves(w.ctx)).map((m) => m.value)
    expect(moves.length).toBeGreaterThan(0)
    const s = await w.state()
    expect(s?.history.spent).toHaveLength(1)
    expect(Object.keys(s?.history.movedAt ?? {}).sort()).toEqual([...new Set(moves.map((m) => String(m.shard)))].sort())
  })
})
