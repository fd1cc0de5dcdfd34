import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {z} from 'zod'
import {type EtcdStore} from '../../../src/etcd/etcdStore.js'
import {keysOf} from '../../../src/etcd/keys.js'
import {UserError} from '../../../src/errors/errors.js'
import {NodeSchema} from '../../../src/model/node.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'

const stores = new StoreSet()
const cluster = uniqueCluster('corrupt')
const keys = keysOf(cluster)
let store: EtcdStore

beforeAll(() => {
  store = stores.open(inject('etcdEndpoint'), cluster)
})
afterAll(() => stores.closeAll())

const goodNode = {id: 'n1', address: '127.0.0.1:7001', createdAt: '2026-01-01T00:00:00.000Z'}

describe('validated reads', () => {
  it('given a value that is not JSON, when read typed, then CORRUPT_VALUE names the key', async () => {
    const key = keys.node('garbage')
    await store.put(key, 'not json {')

    const err = await store.getTyped(key, NodeSchema).catch((e: unknown) => e)

    expect(err).toBeInstanceOf(UserError)
    expect(err).toMatchObject({code: 'CORRUPT_VALUE'})
    expect((err as UserError).message).toContain(key)
    expect((err as UserError).message).toMatch(/invalid JSON/)
    expect((err as UserError).hint).toContain(`etcdctl get ${key}`)
  })

  it('given JSON that violates the schema, when read typed, then CORRUPT_VALUE names the key and the field', async () => {
    const key = keys.node('badport')
    await store.put(key, JSON.stringify({...goodNode, address: 'nowhere'}))

    const err = await store.getTyped(key, NodeSchema).catch((e: unknown) => e)

    expect(err).toMatchObject({code: 'CORRUPT_VALUE'})
    expect((err as UserError).message).toContain(key)
    expect((err as UserError).message).toContain('address')
  })

  it('given a nested field of the wrong type, then the message gives the field path', async () => {
    const key = keys.node('nested')
    await store.put(key, JSON.stringify({...goodNode, capacity: {reads: 'lots'}}))

    await expect(store.getTyped(key, NodeSchema)).rejects.toThrow(/capacity\.reads/)
  })

  it('given a valid value, when read typed, then defaults are applied and revisions returned', async () => {
    const key = keys.node('good')
    const rev = await store.put(key, JSON.stringify(goodNode))

    const got = await store.getTyped(key, NodeSchema)

    expect(got).toMatchObject({key, modRevision: rev, value: {...goodNode, zone: 'default', state: 'active', capacity: {}}})
  })

  it('given an absent key, when read typed, then it is undefined', async () => {
    expect(await store.getTyped(keys.node('absent'), NodeSchema)).toBeUndefined()
  })

  it('given one corrupt value among many, when listed typed, then CORRUPT_VALUE names that key', async () => {
    const prefix = `${keys.prefix}mixed/`
    const schema = z.object({n: z.number()})
    for (let i = 0; i < 5; i++) await store.put(`${prefix}${i}`, JSON.stringify({n: i}))
    await store.put(`${prefix}3`, JSON.stringify({n: 'three'}))

    await expect(store.listTyped(prefix, schema, {pageSize: 2})).rejects.toThrow(new RegExp(`${prefix}3 is invalid: n:`))
  })
})
