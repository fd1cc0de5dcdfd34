import {describe, expect, it, vi} from 'vitest'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {type WatchEvent, type WatchStatus} from '../../src/store/store.js'

const tick = () => new Promise<void>((r) => setImmediate(r))

describe('MemoryStore faults', () => {
  it('Given a fail fault for 2 writes under a prefix, Then exactly the next 2 matching writes throw and change nothing; other keys and later writes go through', async () => {
    const store = new MemoryStore()
    store.faults.fail({op: 'txn', key: '/a/', times: 2})
    const before = await store.revision()

    await expect(store.put('/a/1', 'x')).rejects.toMatchObject({code: 'ETCD_UNREACHABLE', message: expect.stringContaining('/a/1')})
    await store.put('/b/1', 'y')
    await expect(store.create('/a/2', 'x')).rejects.toMatchObject({code: 'ETCD_UNREACHABLE'})
    await store.put('/a/3', 'z')

    expect((await store.list('/')).items.map((kv) => kv.key)).toEqual(['/a/3', '/b/1'])
    expect(await store.revision()).toBe(before + 2n)
  })

  it('Given a fault that fails after the write, Then the write lands although the caller sees an error (a lost reply)', async () => {
    const store = new MemoryStore()
    store.faults.fail({op: 'txn', key: /lock$/, when: 'after', error: new Error('reply lost')})

    await expect(store.create('/x/lock', 'me')).rejects.toThrow('reply lost')

    expect(await store.get('/x/lock')).toMatchObject({value: 'me'})
    await expect(store.create('/x/lock', 'me')).rejects.toMatchObject({code: 'ALREADY_EXISTS'})
  })

  it('Given a hold on reads, Then the read waits at the gate until released, and a write meanwhile is not in its answer when held after', async () => {
    const store = new MemoryStore()
    await store.put('/k', 'old')
    const gate = store.faults.hold({op: 'get', key: '/k', when: 'after'})
    const read = store.get('/k')
    await gate.reached
    await store.put('/k', 'new')
    let settled = false
    void read.then(() => (settled = true))
    await tick()
    expect(settled).toBe(false)

    gate.release()

    expect(await read).toMatchObject({value: 'old'})
    expect(await store.get('/k')).toMatchObject({value: 'new'})
  })

  it('Given a closed client, Then its calls fail as unreachable, its watches stop and its leases end; other clients go on', async () => {
    const store = new MemoryStore()
    const other = store.connect()
    const lease = await store.grantLease(5)
    await store.put('/alive/me', 'x', lease.id)
    const events: WatchEvent[] = []
    store.watch('/', {fromRevision: await store.revision(), onEvent: (e) => events.push(e), resync: () => store.revision()})

    store.close()
    await other.put('/later', 'y')
    await tick()

    await expect(store.get('/later')).rejects.toMatchObject({code: 'ETCD_UNREACHABLE'})
    expect(events).toEqual([])
    expect(lease.lost).toBe(true)
    expect(await other.get('/alive/me')).toBeUndefined()
    expect(await other.get('/later')).toMatchObject({value: 'y'})
  })

  it('Given a lease expired by the test, Then onLost fires once, after the write, and a put attached to it is NOT_FOUND', async () => {
    const store = new MemoryStore()
    const lease = await store.grantLease(5)
    const lost = vi.fn()
    lease.onLost(lost)

    store.expireLease(lease.id)
    expect(lost).not.toHaveBeenCalled() // never inside the write that ended it
    await tick()
    store.expireLease(lease.id)
    await tick()

    expect(lost).toHaveBeenCalledTimes(1)
    await expect(store.put('/k', 'v', lease.id)).rejects.toMatchObject({code: 'NOT_FOUND'})
    expect(store.leaseIds()).toEqual([])
  })
})

describe('MemoryStore paged list', () => {
  it('Given writes landing while a list is between pages, Then the whole list is the view at its first page\'s revision', async () => {
    const store = new MemoryStore()
    for (let i = 0; i < 10; i++) await store.put(`/p/k${i}`, String(i))
    const gate = store.faults.hold({op: 'list', key: '/p/', when: 'after'}) // the first page is read, its answer held
    const listing = store.list('/p/', {pageSize: 3})
    await gate.reached
    await store.put('/p/a', 'before every page')
    await store.delete('/p/k8')
    await store.put('/p/z', 'after every page')
    gate.release()

    const {items, revision} = await listing

    expect(items.map((kv) => kv.key)).toEqual(Array.from({length: 10}, (_, i) => `/p/k${i}`))
    expect(revision).toBe((await store.revision()) - 3n)
  })
})

describe('MemoryStore watches', () => {
  it('Given a drop after one event of a burst, When it reconnects, Then it resumes right after the last delivered event (not at the current revision) and a multi-key revision arrives whole', async () => {
    const store = new MemoryStore()
    const events: string[] = []
    const statuses: WatchStatus[] = []
    const from = await store.revision()
    const watch = store.watch('/p/', {fromRevision: from, onEvent: (e) => events.push(`${e.type} ${e.key}@${e.modRevision - from}`), resync: () => store.revision(), onStatus: (s) => statuses.push(s)})
    store.dropWatches({afterEvents: 1, stayDown: true})

    await store.put('/p/a', '1')
    await store.commit({compares: [], puts: [{key: '/p/b', value: '2'}, {key: '/p/c', value: '3'}]})
    await store.put('/q/outside', 'x')
    await store.delete('/p/a')
    await tick()
    expect(events).toEqual(['put /p/a@1'])
    expect(statuses.at(-1)).toBe('disconnected')
    expect(watch.lastRevision()).toBe(from + 1n)

    store.reconnectWatches()
    await tick()

    expect(events).toEqual(['put /p/a@1', 'put /p/b@2', 'put /p/c@2', 'delete /p/a@4'])
    expect(statuses).toEqual(['connected', 'disconnected', 'connected'])
    await watch.close()
  })

  it('Given a resync that fails, Then the watch stays down without timers and retries on the next write', async () => {
    const store = new MemoryStore()
    await store.put('/p/a', '1')
    const old = await store.revision()
    await store.put('/p/a', '2')
    await store.put('/p/a', '3')
    await store.compact(await store.revision())
    let fail = true
    const resync = vi.fn(async () => {
      if (fail) throw new Error('etcd down')
      return store.revision()
    })
    const events: WatchEvent[] = []
    const watch = store.watch('/p/', {fromRevision: old, onEvent: (e) => events.push(e), resync})
    await tick()
    expect(resync).toHaveBeenCalledTimes(1)

    fail = false
    const rev = await store.put('/p/b', 'x')
    await tick()
    await store.put('/p/c', 'y')
    await tick()

    expect(resync).toHaveBeenCalledTimes(2)
    // b landed before (or during) the resync read: the read covers it; c comes as an event.
    expect(events.map((e) => e.key)).toEqual(['/p/c'])
    expect(watch.lastRevision()).toBe(rev + 1n)
    await watch.close()
  })
})
