import {describe, expect, it} from 'vitest'
import {listMoves} from '../../src/executor/moveStore.js'
import {type Txn} from '../../src/store/store.js'
import {beforeExecutorLockGrant, cleanOneCheckDirs, drainingN3Cluster, expectNothingCounted, fakeEffects, runOneAutopilotCheck, promotingAfterCopy} from './oneAutopilotCheck.js'

/**
 * The two ways the executor lock stops an `apply` of the autopilot, which are not the same:
 * a human takes the lock between the check and its apply (LOCK_HELD before anything ran: the
 * autopilot defers, and the plan that never ran costs no budget), and the executor's own lease
 * on the lock is lost mid-run (LockLostError: moves ran, the rest wait for a resume; no human
 * is involved). The real runAutopilot on a memory store with fake node effects; node n3 is
 * draining, so the check heals (moves n3's replicas away).
 */
cleanOneCheckDirs()

describe('autopilot: the executor lock stops its apply', () => {
  it('Given a human apply takes the executor lock between the check and its apply, When the autopilot defers, Then it names the holder and the plan that never ran costs no budget and cools nothing down', async () => {
    const w = await drainingN3Cluster('aplockheld')
    // A human's executor lock lands first.
    beforeExecutorLockGrant(w.store, async (grant) => {
      const human = await grant(30)
      await w.store.commit({compares: [], puts: [{key: w.ctx.keys.executorLock, value: JSON.stringify({holder: 'shardctl apply plans/human.json', host: 'ops1', pid: 4242, acquiredAt: 't'}), lease: human.id}]})
    })
    const events = await runOneAutopilotCheck(w.ctx, w.clock, {coolDownMs: 3_600_000, limit: 4})
    const outcomes = events.flatMap((e) => (e.type === 'outcome' ? [e] : []))
    expect(outcomes).toHaveLength(1)
    expect(outcomes[0]!.kind).toBe('heal')
    expect(outcomes[0]!.outcome).toMatch(/^deferred: .*is held by shardctl apply plans\/human\.json.*; nothing of it ran; the next check waits for that holder/)
    expect(await listMoves(w.ctx)).toEqual([])
    const s = await w.state()
    expectNothingCounted(s)
  })

  it('Given the executor\'s lease lapses while its apply takes the executor lock, When the apply is refused, Then the outcome says the lock could not be taken (not that the executor stopped), and the plan that never ran costs no budget', async () => {
    const w = await drainingN3Cluster('aplocklapsed')
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
    expectNothingCounted(s)
  })

  it('Given the executor\'s lock changes hands under it (its lease lapsed in etcd, another executor took the lock) while it copies, When its next fenced write fails (LockLostError), Then the outcome says the lease was lost, not that it deferred to a human, and the plan counts as started', async () => {
    const w = await drainingN3Cluster('aplockfenced')
    let takenOver = 0
    const effects = fakeEffects({
      copy: async (env, m) => {
        // The key goes with the lapsed lease and a resume elsewhere takes the lock; this executor has not noticed yet.
        if (takenOver === 0) {
          takenOver++
          const other = await w.store.grantLease(30)
          await w.store.commit({compares: [], deletes: [w.ctx.keys.executorLock]})
          await w.store.commit({compares: [], puts: [{key: w.ctx.keys.executorLock, value: JSON.stringify({holder: 'shardctl apply --resume', host: 'ops2', pid: 7, acquiredAt: 't'}), lease: other.id}]})
        }
        return promotingAfterCopy(env, m)
      },
    })
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
    const w = await drainingN3Cluster('aplocklost')
    let lapsed = 0
    const effects = fakeEffects({
      copy: async (env, m) => {
        // The executor's lease lapses (etcd unreachable past its TTL) under the first copy.
        const lock = await w.store.get(w.ctx.keys.executorLock)
        if (lock && lapsed === 0) {
          w.store.expireLease(lock.lease)
          lapsed++
        }
        return promotingAfterCopy(env, m)
      },
    })
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
