import {describe, expect, it, vi} from 'vitest'
import {acquireLock, LockHeldError} from '../../src/etcd/leaseLock.js'
import {MemoryStore} from '../../src/store/memoryStore.js'

const KEY = '/shardctl/c/lock/executor'
const tick = () => new Promise<void>((r) => setImmediate(r))

describe('acquireLock on the memory store', () => {
  it('Given the lock held by another client, Then LOCK_HELD names the holder and the refused attempt leaves no lease kept alive', async () => {
    const store = new MemoryStore()
    const other = store.connect()
    const held = await acquireLock(store, KEY, 'executor-a')
    const before = store.leaseIds()

    const err = await acquireLock(other, KEY, 'executor-b').catch((e: unknown) => e)

    expect(err).toMatchObject({code: 'LOCK_HELD', message: expect.stringMatching(/held by executor-a \(pid \d+ on /)})
    // Its own class: LOCK_HELD is also the code of a holder fenced out after its lease was lost (work was done then).
    expect(err).toBeInstanceOf(LockHeldError)
    expect(store.leaseIds()).toEqual(before)
    expect(held.held()).toBe(true)
  })

  it('Given the store failing the lock write, Then the store\'s error surfaces, no key is written and no lease is left behind', async () => {
    const store = new MemoryStore()
    store.faults.fail({op: 'txn', key: KEY})

    await expect(acquireLock(store, KEY, 'a')).rejects.toMatchObject({code: 'ETCD_UNREACHABLE'})

    expect(await store.get(KEY)).toBeUndefined()
    expect(store.leaseIds()).toEqual([])
  })

  it('Given a holder whose lease expires, Then it is told, stops holding, does not take the lock again by itself, and its fence fails once another holds it', async () => {
    const store = new MemoryStore()
    const other = store.connect()
    const a = await acquireLock(store, KEY, 'a')
    const lost = vi.fn()
    a.lease.onLost(lost)

    store.expireLease(a.lease.id)
    await tick()

    expect(lost).toHaveBeenCalledTimes(1)
    expect(a.held()).toBe(false)
    expect(store.leaseIds()).toEqual([]) // no recovery: no new lease granted
    expect(await store.get(KEY)).toBeUndefined()
    const b = await acquireLock(other, KEY, 'b')
    expect(await store.commit({compares: [a.fence], puts: [{key: '/shardctl/c/moves/m1', value: 'a'}]})).toBeUndefined()
    await a.release()
    expect(await store.get(KEY)).toMatchObject({createRevision: b.createRevision})
  })

  it('Given the lease expiring while the lock key is being written, Then acquiring fails with CONFLICT instead of returning a lock that is already gone', async () => {
    const store = new MemoryStore()
    const gate = store.faults.hold({op: 'txn', key: KEY, when: 'after'})
    const acquiring = acquireLock(store, KEY, 'a')
    await gate.reached
    for (const id of store.leaseIds()) store.expireLease(id)
    gate.release()

    await expect(acquiring).rejects.toMatchObject({code: 'CONFLICT', message: expect.stringContaining('lease expired')})
    expect(await store.get(KEY)).toBeUndefined()
    expect(store.leaseIds()).toEqual([])
  })

  it('Given a release whose delete etcd applied but has not answered yet, When another process takes the lock meanwhile, Then the old holder already says it no longer holds it', async () => {
    // Why: the executor gates every node request on held() (leaseGate.ts); the autopilot's stop
    // releases the executor lock while its step may still run (heldLocks.ts). Were held() true
    // until the delete's answer came back, a step waking in that gap would send a node request
    // after the next executor took the lock: a window that lease expiry does not open (the lease
    // deadline ends before etcd may expire the lease).
    const store = new MemoryStore()
    const other = store.connect()
    const a = await acquireLock(store, KEY, 'a')
    const gate = store.faults.hold({op: 'txn', key: KEY, when: 'after'})
    const releasing = a.release()
    await gate.reached
    const b = await acquireLock(other, KEY, 'b')

    expect(a.held()).toBe(false)

    gate.release()
    await releasing
    expect(a.held()).toBe(false)
    expect(await store.get(KEY)).toMatchObject({createRevision: b.createRevision})
  })

  it('Given a released lock, When released again, Then nothing more happens and the next holder gets it', async () => {
    const store = new MemoryStore()
    const a = await acquireLock(store, KEY, 'a')
    await a.release()
    await a.release()
    expect(a.held()).toBe(false)
    expect(a.lease.lost).toBe(true)
    const b = await acquireLock(store, KEY, 'b')
    expect(b.createRevision).toBeGreaterThan(a.createRevision)
  })
})
