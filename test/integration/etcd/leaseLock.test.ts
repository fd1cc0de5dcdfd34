import {hostname} from 'node:os'
import {afterAll, beforeAll, describe, expect, inject, it, vi} from 'vitest'
import {type EtcdStore} from '../../../src/etcd/etcdStore.js'
import {keysOf} from '../../../src/etcd/keys.js'
import {acquireLock, type HeldLock} from '../../../src/etcd/leaseLock.js'
import {UserError} from '../../../src/errors/errors.js'
import {type HolderProcess, startHolder} from '../../support/holderProcess.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'

const stores = new StoreSet()
const cluster = uniqueCluster('lock')
const keys = keysOf(cluster)
const holders: HolderProcess[] = []
const locks: HeldLock[] = []
let endpoint: string
let store: EtcdStore

beforeAll(() => {
  endpoint = inject('etcdEndpoint')
  store = stores.open(endpoint, cluster)
})
afterAll(async () => {
  await Promise.all(holders.map((h) => h.kill()))
  await Promise.all(locks.map((l) => l.release()))
  stores.closeAll()
})

async function lock(s: EtcdStore, key: string, who: string, ttl = 10): Promise<HeldLock> {
  const held = await acquireLock(s, key, who, ttl)
  locks.push(held)
  return held
}

describe('acquireLock between processes', () => {
  it('given another process holds the lock, then acquiring throws LOCK_HELD naming its pid; once it is killed the lock frees after the TTL', async () => {
    const key = keys.executorLock
    const child = await startHolder('lock', endpoint, cluster, key, 2)
    holders.push(child)

    const err = await acquireLock(store, key, 'parent').catch((e: unknown) => e)

    expect(err).toBeInstanceOf(UserError)
    expect(err).toMatchObject({code: 'LOCK_HELD'})
    expect((err as UserError).message).toContain(key)
    expect((err as UserError).message).toContain(`test-child (pid ${child.pid} on ${hostname()}`)
    expect((err as UserError).hint).toMatch(/lease expires/)

    await child.kill()
    const mine = await vi.waitFor(
      async () => {
        const held = await acquireLock(store, key, 'parent', 10)
        locks.push(held)
        return held
      },
      {timeout: 20_000, interval: 250},
    )
    expect(mine.createRevision).toBeGreaterThan(BigInt(child.info.createRevision!))
    const holder = JSON.parse((await store.get(key))!.value)
    expect(holder).toMatchObject({holder: 'parent', pid: process.pid})
    await mine.release()
    expect(await store.get(key)).toBeUndefined()
  })

  it('given a lock refused to one process, then the refusal leaves the holder\'s key untouched', async () => {
    const key = keys.prefix + 'lock/refusal'
    const first = await lock(store, key, 'first')
    const before = await store.get(key)

    await expect(acquireLock(stores.open(endpoint, cluster), key, 'second')).rejects.toMatchObject({code: 'LOCK_HELD'})

    expect(await store.get(key)).toEqual(before)
    await first.release()
  })
})

describe('fencing', () => {
  it('given a holder whose lock key was deleted and re-created by another, when it writes with its fence, then the write fails and the new holder\'s succeeds', async () => {
    const key = keys.prefix + 'lock/fence'
    const target = keys.shard(7)
    const old = await lock(store, key, 'old-executor')
    expect(await store.commit({compares: [old.fence], puts: [{key: target, value: '"by old, while holding"'}]})).toBeDefined()

    // The old holder's lease lapses (simulated: its key is deleted) and another process takes over.
    await store.delete(key)
    const next = await lock(stores.open(endpoint, cluster), key, 'new-executor')

    const late = await store.commit({compares: [old.fence], puts: [{key: target, value: '"by old, deposed"'}]})
    const current = await store.commit({compares: [next.fence], puts: [{key: target, value: '"by new"'}]})

    expect(late).toBeUndefined()
    expect(current).toBeDefined()
    expect((await store.get(target))?.value).toBe('"by new"')
    expect(next.createRevision).toBeGreaterThan(old.createRevision)
  })

  it('given a deposed holder, when it releases, then it does not delete the new holder\'s key', async () => {
    const key = keys.prefix + 'lock/release'
    const old = await lock(store, key, 'old')
    await store.delete(key)
    const next = await lock(stores.open(endpoint, cluster), key, 'new')

    await old.release()

    expect(await store.get(key)).toMatchObject({createRevision: next.createRevision})
  })
})
