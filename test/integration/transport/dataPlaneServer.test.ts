import {Agent, request} from 'undici'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {describeTlsFailure, tlsConnectOptions} from '../../../src/transport/clientTls.js'
import {reloadServerTls} from '../../../src/transport/dataPlaneServer.js'
import {loadTlsMaterial, type TlsMaterial} from '../../../src/transport/tlsMaterial.js'
import {DataPlanePki, type PkiFiles} from '../../support/dataPlanePki.js'
import {TlsTestServers} from '../../support/tlsTestServers.js'

// Real sockets on 127.0.0.1 with run-time ports; certificates from the product's own CA code.
let pki: DataPlanePki
let other: DataPlanePki
let node: PkiFiles
let client: PkiFiles
const servers = new TlsTestServers()
const refused: string[] = []

beforeAll(async () => {
  pki = await DataPlanePki.create()
  other = await DataPlanePki.create('another-ca')
  node = await pki.issue('n1', 'node')
  client = await pki.issue('alice', 'client')
})
afterAll(async () => {
  await servers.closeAll()
  pki.remove()
  other.remove()
})

async function serve(tls: TlsMaterial | undefined, mode: 'require' | 'request' = 'require'): Promise<string> {
  return servers.serve(tls, (req, res) => {
    const peer = (req.socket as {getPeerCertificate?: () => {subject?: {CN?: string}}}).getPeerCertificate?.()
    res.end(JSON.stringify({cn: peer?.subject?.CN ?? null}))
  }, {clientCertificates: mode, onRefused: (reason) => refused.push(reason)})
}

/** call dials `url` with `tls` and returns the status and body, or the TLS failure in words. */
async function call(url: string, tls: TlsMaterial | undefined): Promise<{status: number; body: string} | {failed: string}> {
  const agent = new Agent({connect: {...tlsConnectOptions(tls), timeout: 5000}})
  try {
    const res = await request(url, {dispatcher: agent, headersTimeout: 5000, bodyTimeout: 5000})
    return {status: res.statusCode, body: await res.body.text()}
  } catch (err) {
    return {failed: describeTlsFailure(err) ?? `not TLS: ${String((err as Error).message)}`}
  } finally {
    await agent.close()
  }
}

const mat = (f: PkiFiles) => loadTlsMaterial(f, 'certificate')!

describe('createDataPlaneServer with mutual TLS', () => {
  it('serves a client holding a certificate of the cluster CA and sees who it is', async () => {
    const addr = await serve(mat(node))
    expect(await call(`https://${addr}/`, mat(client))).toEqual({status: 200, body: JSON.stringify({cn: 'alice'})})
  })

  it('answers plaintext HTTP with TLS_REQUIRED instead of a reset', async () => {
    const addr = await serve(mat(node))
    const r = await call(`http://${addr}/`, undefined)
    expect(r).toMatchObject({status: 400})
    expect(JSON.parse((r as {body: string}).body).code).toBe('TLS_REQUIRED')
    expect(refused).toContain('plaintext connection to a TLS-only port')
  })

  it('refuses a client without a certificate, and a client certificate of another CA', async () => {
    const addr = await serve(mat(node))
    const noCert = await call(`https://${addr}/`, loadTlsMaterial({ca: pki.caFile}, 'ca-only'))
    expect(noCert).toHaveProperty('failed')
    await expect.poll(() => refused).toContain('TLS handshake failed: the peer presented no client certificate')
    const foreign = await other.issue('mallory', 'client')
    const before = refused.length
    const r = await call(`https://${addr}/`, {...mat(foreign), ca: mat(client).ca})
    expect(r).toHaveProperty('failed')
    // TLS 1.3 verifies the client's certificate after the client's Finished: the client only
    // sees the connection close, the server logs the refusal.
    await expect.poll(() => refused.slice(before).some((x) => x.startsWith('TLS handshake failed'))).toBe(true)
  })

  it('refuses an expired client certificate of the cluster CA, and logs why', async () => {
    const addr = await serve(mat(node))
    const expired = await pki.issue('stale', 'client', [], {expired: true})
    const before = refused.length
    expect(await call(`https://${addr}/`, mat(expired))).toHaveProperty('failed')
    await expect.poll(() => refused.slice(before).some((x) => x.startsWith('TLS handshake failed'))).toBe(true)
    // The same CA's current certificate is still served: the refusal is about the expiry.
    expect(await call(`https://${addr}/`, mat(client))).toMatchObject({status: 200})
  })

  it('a client refuses a server of another CA, an expired server certificate and a wrong hostname, naming why', async () => {
    const foreign = await serve(mat(await other.issue('n9', 'node')))
    expect(await call(`https://${foreign}/`, mat(client))).toEqual({failed: 'its certificate is not signed by the cluster CA (--tls-ca)'})
    const expired = await serve(mat(await pki.issue('old', 'node', ['127.0.0.1'], {expired: true})))
    expect(await call(`https://${expired}/`, mat(client))).toEqual({failed: 'its certificate has expired'})
    const elsewhere = await serve(mat(await pki.issue('far', 'node', ['10.9.9.9', 'far.example'])))
    expect((await call(`https://${elsewhere}/`, mat(client)) as {failed: string}).failed).toMatch(/wrong hostname/)
  })

  it('reloadServerTls rotates to a new CA for new connections without a restart', async () => {
    const addr = await serve(mat(node))
    const next = await DataPlanePki.create('next-ca')
    try {
      const nextNode = await next.issue('n1', 'node')
      const nextClient = await next.issue('alice', 'client')
      // A bundle of both CAs is what a rotation serves in between: both generations connect.
      // certPem ends in a newline, so two concatenate into a valid bundle file.
      const bundle = next.write('bundle.crt', `${pki.ca.certPem}${next.ca.certPem}`)
      reloadServerTls(servers.servers.at(-1)!, loadTlsMaterial({...nextNode, ca: bundle}, 'certificate')!)
      expect(await call(`https://${addr}/`, {...mat(client), ca: Buffer.from(`${pki.ca.certPem}${next.ca.certPem}`)})).toMatchObject({status: 200})
      expect(await call(`https://${addr}/`, mat(nextClient))).toMatchObject({status: 200})
      // Then the old CA is dropped: its clients are refused, the new ones still served.
      reloadServerTls(servers.servers.at(-1)!, mat(nextNode))
      expect(await call(`https://${addr}/`, {...mat(client), ca: Buffer.from(next.ca.certPem)})).toHaveProperty('failed')
      expect(await call(`https://${addr}/`, mat(nextClient))).toMatchObject({status: 200})
    } finally {
      next.remove()
    }
  })

  it('serves plaintext when given no TLS', async () => {
    const addr = await serve(undefined)
    expect(await call(`http://${addr}/`, undefined)).toMatchObject({status: 200})
  })
})
