import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {type EtcdStore} from '../../../src/etcd/etcdStore.js'
import {keysOf} from '../../../src/etcd/keys.js'
import {UserError} from '../../../src/errors/errors.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'

const stores = new StoreSet()
const cluster = uniqueCluster('cas')
const keys = keysOf(cluster)
let store: EtcdStore
let other: EtcdStore

beforeAll(() => {
  store = stores.open(inject('etcdEndpoint'), cluster)
  other = stores.open(inject('etcdEndpoint'), cluster)
})
afterAll(() => stores.closeAll())

describe('EtcdStore compare-and-swap', () => {
  it('given a value read at revision R, when another writer updates it first, then update(R) throws CONFLICT and keeps the winner', async () => {
    const key = keys.node('n1')
    const created = await store.create(key, '"v1"')
    const winner = await other.update(key, '"winner"', created)

    const err = await store.update(key, '"loser"', created).catch((e: unknown) => e)

    expect(err).toBeInstanceOf(UserError)
    expect(err).toMatchObject({code: 'CONFLICT'})
    expect((err as UserError).message).toContain(key)
    const now = await store.get(key)
    expect(now).toMatchObject({value: '"winner"', modRevision: winner, createRevision: created})
  })

  it('given an existing key, when create is called again, then it throws ALREADY_EXISTS and the value is unchanged', async () => {
    const key = keys.node('n2')
    await store.create(key, '"first"')

    await expect(other.create(key, '"second"')).rejects.toMatchObject({code: 'ALREADY_EXISTS'})
    expect((await store.get(key))?.value).toBe('"first"')
  })

  it('given two concurrent creates of one key, then exactly one wins', async () => {
    const key = keys.node('race')
    const results = await Promise.allSettled([store.create(key, '"a"'), other.create(key, '"b"')])

    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult
    expect(lost.reason).toMatchObject({code: 'ALREADY_EXISTS'})
  })

  it('given a stale revision, when delete(expected) is called, then it throws CONFLICT and the key survives', async () => {
    const key = keys.node('n3')
    const rev = await store.create(key, '"x"')
    await store.update(key, '"y"', rev)

    await expect(store.delete(key, rev)).rejects.toMatchObject({code: 'CONFLICT'})
    expect((await store.get(key))?.value).toBe('"y"')
  })

  it('given a transaction with one failing compare, when committed, then nothing is written', async () => {
    const a = keys.shard(1)
    const b = keys.shard(2)
    const revA = await store.create(a, '"a0"')
    await store.create(b, '"b0"')

    const stale = await store.commit({compares: [{key: a, modRevision: revA}, {key: b, modRevision: revA}], puts: [{key: a, value: '"a1"'}, {key: b, value: '"b1"'}]})

    expect(stale).toBeUndefined()
    expect((await store.get(a))?.value).toBe('"a0"')
    expect((await store.get(b))?.value).toBe('"b0"')
  })

  it('given every compare holding, when committed, then puts and deletes land at one new revision', async () => {
    const a = keys.shard(3)
    const b = keys.shard(4)
    const revA = await store.create(a, '"a0"')
    const revB = await store.create(b, '"b0"')

    const rev = await store.commit({compares: [{key: a, modRevision: revA}, {key: b, createRevision: revB}], puts: [{key: a, value: '"a1"'}], deletes: [b]})

    expect(rev).toBeGreaterThan(revB)
    expect(await store.get(a)).toMatchObject({value: '"a1"', modRevision: rev})
    expect(await store.get(b)).toBeUndefined()
  })

  it('given a transaction over etcd\'s operation limit, then it is refused before reaching etcd', async () => {
    const puts = Array.from({length: 129}, (_, i) => ({key: keys.shard(1000 + i), value: '1'}))
    await expect(store.commit({compares: [], puts})).rejects.toThrow(/129 operations/)
  })
})
