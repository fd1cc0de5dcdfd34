import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {UserError} from '../../../src/errors/errors.js'
import {freePort} from '../../../src/localEtcd/freePort.js'
import {startPrivateEtcd, type PrivateEtcd} from '../../support/privateEtcd.js'
import {etcdAdminClient, StoreSet, uniqueCluster} from '../../support/testStore.js'

const stores = new StoreSet()
const cluster = uniqueCluster('auth')
const meta = `/shardctl/${cluster}/meta`
let etcd: PrivateEtcd

beforeAll(async () => {
  etcd = await startPrivateEtcd()
  const admin = etcdAdminClient(etcd.endpoint)
  await admin.user('root').create('root-secret')
  await admin.user('root').addRole('root')
  await admin.user('reader').create('reader-secret') // no role: may log in, may not read /shardctl/
  await admin.auth.authEnable()
  admin.close()
})
afterAll(async () => {
  stores.closeAll()
  await etcd?.dispose()
})

describe('etcd auth', () => {
  it('given the right user and password, then reads and writes work', async () => {
    const store = stores.open(etcd.endpoint, cluster, {user: 'root', password: 'root-secret'})

    await store.put(meta, '{}')

    expect((await store.get(meta))?.value).toBe('{}')
  })

  it('given --user name:password in one flag (as etcdctl), then it authenticates', async () => {
    const store = stores.open(etcd.endpoint, cluster, {user: 'root:root-secret'})

    expect(await store.ping()).toBeGreaterThan(0n)
  })

  it('given a wrong password, then ETCD_AUTH names the endpoint and how to fix it', async () => {
    const store = stores.open(etcd.endpoint, cluster, {user: 'root', password: 'wrong'})

    const err = await store.get(meta).catch((e: unknown) => e)

    expect(err).toBeInstanceOf(UserError)
    expect(err).toMatchObject({code: 'ETCD_AUTH'})
    expect((err as UserError).message).toContain(etcd.endpoint)
    expect((err as UserError).message).toMatch(/rejected the credentials/)
    expect((err as UserError).hint).toContain('--user')
  })

  it('given no credentials at all, then ETCD_AUTH names the endpoint', async () => {
    const store = stores.open(etcd.endpoint, cluster)

    const err = await store.get(meta).catch((e: unknown) => e)

    expect(err).toMatchObject({code: 'ETCD_AUTH'})
    expect((err as UserError).message).toContain(etcd.endpoint)
  })

  it('given a user without a role, then ETCD_AUTH says permission was denied', async () => {
    const store = stores.open(etcd.endpoint, cluster, {user: 'reader', password: 'reader-secret'})

    const err = await store.get(meta).catch((e: unknown) => e)

    expect(err).toMatchObject({code: 'ETCD_AUTH'})
    expect((err as UserError).message).toMatch(/denied permission/)
    expect((err as UserError).message).toContain(etcd.endpoint)
  })
})

describe('unreachable etcd', () => {
  it('given a port nothing listens on, then ETCD_UNREACHABLE names the endpoint and where it came from', async () => {
    const endpoint = `http://127.0.0.1:${await freePort()}`
    const store = stores.open(endpoint, cluster)

    const err = await store.get(meta).catch((e: unknown) => e)

    expect(err).toBeInstanceOf(UserError)
    expect(err).toMatchObject({code: 'ETCD_UNREACHABLE'})
    expect((err as UserError).message).toContain(`etcd at ${endpoint} (from --endpoints)`)
    expect((err as UserError).message).not.toContain('\n')
    expect((err as UserError).hint).toMatch(/shardctl etcd start/)
  })

  it('given an etcd that was stopped, then ETCD_UNREACHABLE names it', async () => {
    const gone = await startPrivateEtcd()
    const store = stores.open(gone.endpoint, cluster)
    await store.ping()
    await gone.dispose()

    await expect(store.get(meta)).rejects.toMatchObject({code: 'ETCD_UNREACHABLE', message: expect.stringContaining(gone.endpoint)})
  })
})
