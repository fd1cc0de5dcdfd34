import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {loadTlsMaterial, type TlsMaterial} from '../../src/transport/tlsMaterial.js'
import {DataPlanePki, type PkiFiles} from '../support/dataPlanePki.js'
import {runCli} from '../support/runCli.js'
import {TlsTestServers} from '../support/tlsTestServers.js'

// The CLI as a user runs it (`shardctl kv get`, a real child process) against TLS servers
// on 127.0.0.1 that are wrong in one way each: the one-line error must say which, exit with
// the documented code (17 NODE_UNREACHABLE for a refused handshake, 22 TLS_REQUIRED for a
// plaintext client), and print no key material.
let pki: DataPlanePki
let other: DataPlanePki
const servers = new TlsTestServers()

beforeAll(async () => {
  pki = await DataPlanePki.create()
  other = await DataPlanePki.create('another-ca')
})
afterAll(async () => {
  await servers.closeAll()
  pki.remove()
  other.remove()
})

/** serve starts a router-like TLS server with `files` that answers every request 200 "served". */
async function serve(files: PkiFiles): Promise<string> {
  const tls: TlsMaterial = loadTlsMaterial(files, 'certificate')!
  return servers.serve(tls, (_req, res) => res.end('served'), {clientCertificates: 'request'})
}

describe('kv get refuses a bad TLS peer, naming why', () => {
  it('another CA, an expired certificate, a wrong hostname and a plaintext client each get their reason and exit code', async () => {
    const good = await serve(await pki.issue('r1', 'node'))
    const cases = [
      {what: 'certificate of another CA', router: await serve(await other.issue('r9', 'node')), tlsArgs: ['--tls-ca', pki.caFile], code: 17, why: 'TLS refused: its certificate is not signed by the cluster CA (--tls-ca)'},
      {what: 'expired certificate', router: await serve(await pki.issue('old', 'node', ['127.0.0.1'], {expired: true})), tlsArgs: ['--tls-ca', pki.caFile], code: 17, why: 'TLS refused: its certificate has expired'},
      {what: 'wrong hostname', router: await serve(await pki.issue('far', 'node', ['10.9.9.9', 'far.example'])), tlsArgs: ['--tls-ca', pki.caFile], code: 17, why: 'TLS refused: its certificate does not name the address dialled (wrong hostname'},
      {what: 'plaintext client', router: good, tlsArgs: [], code: 22, why: 'this port speaks TLS only'},
    ]
    const results = await Promise.all(cases.map((c) => runCli(['kv', 'get', 'app/x', '--router', c.router, ...c.tlsArgs], {cwd: pki.dir, timeoutMs: 90_000})))
    for (const [i, c] of cases.entries()) {
      const r = results[i]!
      expect(r.code, `${c.what}: ${r.stderr}`).toBe(c.code)
      expect(r.stderr, c.what).toContain(c.why)
      expect(r.stderr.trim().split('\n').filter((l) => l.trim() !== '').length, `${c.what}: one line (plus a hint): ${r.stderr}`).toBeLessThanOrEqual(3)
      expect(r.stdout + r.stderr, c.what).not.toMatch(/PRIVATE KEY|^\s+at /m)
    }
    // The same command with the right CA against the good server is served: the refusals above are about the peer.
    const ok = await runCli(['kv', 'get', 'app/x', '--router', good, '--tls-ca', pki.caFile], {cwd: pki.dir, timeoutMs: 90_000})
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.stdout).toContain('served')
  }, 200_000)
})
