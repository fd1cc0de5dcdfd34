import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {UserError} from '../../../src/errors/errors.js'
import {startPrivateEtcd, type PrivateEtcd} from '../../support/privateEtcd.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'
import {makeTlsCerts, type TlsCerts} from '../../support/tlsCerts.js'

const stores = new StoreSet()
const cluster = uniqueCluster('tls')
let certs: TlsCerts
let etcd: PrivateEtcd

beforeAll(async () => {
  certs = makeTlsCerts()
  etcd = await startPrivateEtcd({tls: {certFile: certs.serverCert, keyFile: certs.serverKey, caFile: certs.caFile, clientCertAuth: true}})
})
afterAll(async () => {
  stores.closeAll()
  await etcd?.dispose()
  certs?.remove()
})

describe('TLS with client-certificate auth', () => {
  it('given the CA, a client certificate and its key, then reads and writes work over https', async () => {
    expect(etcd.endpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    const store = stores.open(etcd.endpoint, cluster, {cacert: certs.caFile, cert: certs.clientCert, key: certs.clientKey})

    await store.put(`/shardctl/${cluster}/meta`, '{"ok":true}')

    expect((await store.get(`/shardctl/${cluster}/meta`))?.value).toBe('{"ok":true}')
  })

  it('given only the CA (no client certificate), then the call fails with a one-line error naming the endpoint', async () => {
    const store = stores.open(etcd.endpoint, cluster, {cacert: certs.caFile})

    const err = await store.get(`/shardctl/${cluster}/meta`).catch((e: unknown) => e)

    expect(err).toBeInstanceOf(UserError)
    expect(err).toMatchObject({code: 'ETCD_AUTH'})
    expect((err as UserError).message).toMatch(/^TLS handshake with etcd at /)
    expect((err as UserError).message).toContain(etcd.endpoint)
    expect((err as UserError).message).not.toContain('\n')
    expect((err as UserError).hint).toContain('--cert')
  })

  it('given an https endpoint but no CA, then it is refused before connecting, with the flag to pass', () => {
    expect(() => stores.open(etcd.endpoint, cluster)).toThrow(expect.objectContaining({code: 'BAD_INPUT', hint: expect.stringContaining('--cacert')}))
  })

  it('given http:// for a TLS-only etcd, then the error names the endpoint', async () => {
    const plain = etcd.endpoint.replace('https://', 'http://')
    const store = stores.open(plain, cluster)

    const err = await store.get(`/shardctl/${cluster}/meta`).catch((e: unknown) => e)

    expect(err).toBeInstanceOf(UserError)
    expect(['ETCD_AUTH', 'ETCD_UNREACHABLE']).toContain((err as UserError).code)
    expect((err as UserError).message).toContain(plain)
  })
})
