import {afterAll, beforeAll, describe, expect, inject, it, vi} from 'vitest'
import {type EtcdStore} from '../../../src/etcd/etcdStore.js'
import {keysOf} from '../../../src/etcd/keys.js'
import {acquireLock, type HeldLock} from '../../../src/etcd/leaseLock.js'
import {loseAnswer, startTcpProxy, type TcpProxy} from '../../support/tcpProxy.js'
import {commitsThrough, StoreSet, uniqueCluster} from '../../support/testStore.js'

// etcd3 sends a failed call again (up to 3 times), commits included. A commit that landed but
// whose answer was lost then fails its own compare on the resend: these tests lose the answer
// of the first attempt deterministically (a proxy holds the reply back until etcd shows the
// write, then cuts the connection) and check the commit reports what happened: it landed.
const stores = new StoreSet()
const cluster = uniqueCluster('lostanswer')
const keys = keysOf(cluster)
const locks: HeldLock[] = []
let proxy: TcpProxy
let store: EtcdStore
let direct: EtcdStore

beforeAll(async () => {
  proxy = await startTcpProxy(inject('etcdEndpoint'))
  store = stores.open(proxy.endpoint, cluster)
  direct = stores.open(inject('etcdEndpoint'), cluster)
})
afterAll(async () => {
  await Promise.all(locks.map((l) => l.release()))
  stores.closeAll()
  await proxy.close()
})

/** warm opens the proxied connection (loseAnswer holds back every reply, the handshake's too; a cut one reconnects after a backoff). */
async function warm(): Promise<void> {
  await vi.waitFor(() => store.revision(), {timeout: 10_000, interval: 100})
}



describe('a commit whose answer was lost', () => {
  it('Given a create (compare: absent) that landed, When its answer is lost, Then commit returns the revision it landed at, not a conflict', async () => {
    const key = keys.node('create')
    await warm()

    const rev = await loseAnswer(proxy, () => store.commit({compares: [{key, createRevision: 0n}], puts: [{key, value: '"mine"'}]}), async () => (await direct.get(key)) !== undefined)

    const now = await direct.get(key)
    expect(now?.value).toBe('"mine"')
    expect(rev).toBe(now?.modRevision)
  })

  it('Given an update (compare: mod revision) of several keys that landed, When its answer is lost, Then update returns the revision, not CONFLICT', async () => {
    const key = keys.node('update')
    const created = await direct.create(key, '"v1"')
    await warm()

    const rev = await loseAnswer(proxy, () => store.update(key, '"v2"', created), async () => (await direct.get(key))?.value === '"v2"')

    expect(rev).toBe((await direct.get(key))?.modRevision)
  })

  it('Given a delete with an expected revision that landed, When its answer is lost, Then delete succeeds, not CONFLICT', async () => {
    const key = keys.node('delete')
    const created = await direct.create(key, '"x"')
    await warm()

    await loseAnswer(proxy, () => store.delete(key, created), async () => (await direct.get(key)) === undefined)

    expect(await direct.get(key)).toBeUndefined()
  })

  it('Given a lock acquire that landed, When its answer is lost, Then the acquirer holds the lock instead of LOCK_HELD naming itself', async () => {
    const key = keys.executorLock
    await warm()

    const lock = await loseAnswer(proxy, () => acquireLock(commitsThrough(direct, store), key, 'me', 5), async () => (await direct.get(key)) !== undefined)
    locks.push(lock)

    const now = await direct.get(key)
    expect(lock.createRevision).toBe(now?.createRevision)
    expect(now?.lease).toBe(lock.lease.id)
    expect(await store.commit({compares: [lock.fence], puts: [{key: keys.node('fenced'), value: '"ok"'}]})).toBeDefined()
  })

  it('Given a create that lost the race to another writer, When its own answer is lost too, Then it still reports the conflict', async () => {
    const key = keys.node('race')
    await direct.create(key, '"theirs"')
    await warm()

    // Cut while the answer is on its way: the resend fails its compare, which nothing of ours explains.
    const rev = await loseAnswer(proxy, () => store.commit({compares: [{key, createRevision: 0n}], puts: [{key, value: '"mine"'}]}), async () => true)

    expect(rev).toBeUndefined()
  })

  it('Given concurrent commits whose answers are all lost, some landed and some genuine conflicts, and a conflict on another client meanwhile, Then each learns its own outcome (resends are told per call)', async () => {
    const fresh = [0, 1, 2].map((i) => keys.node(`many-fresh-${i}`))
    const taken = [0, 1, 2].map((i) => keys.node(`many-taken-${i}`))
    const same = keys.node('many-same')
    for (const k of taken) await direct.create(k, '"theirs"')
    const sameRev = await direct.create(same, '"same"')
    await warm()

    const proxied = () =>
      Promise.all([
        ...fresh.map((key) => store.commit({compares: [{key, createRevision: 0n}], puts: [{key, value: '"mine"'}]})),
        ...taken.map((key) => store.commit({compares: [{key, createRevision: 0n}], puts: [{key, value: '"mine"'}]})),
      ])
    // While the proxied commits are held and resent: a conflict on the direct client whose
    // puts match the store exactly. It was never resent, so it must stay a conflict (were the
    // resend of another call told to it, its identical value would pass as its own write).
    let other: Promise<bigint | undefined> | undefined
    const revs = await loseAnswer(proxy, proxied, async () => {
      other ??= direct.commit({compares: [{key: same, createRevision: 0n}], puts: [{key: same, value: '"same"'}]})
      return (await Promise.all(fresh.map((k) => direct.get(k)))).every((kv) => kv !== undefined)
    })

    for (const [i, key] of fresh.entries()) expect(revs[i], key).toBe((await direct.get(key))?.modRevision)
    for (const [i, key] of taken.entries()) {
      expect(revs[fresh.length + i], key).toBeUndefined()
      expect((await direct.get(key))?.value).toBe('"theirs"')
    }
    expect(await other).toBeUndefined()
    expect((await direct.get(same))?.modRevision).toBe(sameRev)
  })
})
