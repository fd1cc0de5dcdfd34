import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {createCa, issueCertificate} from '../../src/transport/certificateAuthority.js'
import {loadTlsMaterial} from '../../src/transport/tlsMaterial.js'

let dir: string
const p = (f: string) => join(dir, f)

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shardctl-tlsmat-'))
  const validity = {notBefore: new Date(Date.now() - 60_000), days: 1}
  const ca = await createCa('t', validity)
  const a = await issueCertificate(ca, {kind: 'node', commonName: 'a', hosts: ['127.0.0.1'], validity})
  const b = await issueCertificate(ca, {kind: 'client', commonName: 'b', hosts: [], validity})
  writeFileSync(p('ca.crt'), ca.certPem)
  writeFileSync(p('a.crt'), a.certPem)
  writeFileSync(p('a.key'), a.keyPem)
  writeFileSync(p('b.key'), b.keyPem)
  writeFileSync(p('junk'), 'not pem')
})
afterAll(() => rmSync(dir, {recursive: true, force: true}))

describe('loadTlsMaterial', () => {
  it('is plaintext (undefined) with no file given, and loads a matching set', () => {
    expect(loadTlsMaterial({}, 'certificate')).toBeUndefined()
    const m = loadTlsMaterial({cert: p('a.crt'), key: p('a.key'), ca: p('ca.crt')}, 'certificate')!
    expect(m.cert?.toString()).toContain('BEGIN CERTIFICATE')
    expect(loadTlsMaterial({ca: p('ca.crt')}, 'ca-only')?.cert).toBeUndefined()
  })

  it('names the missing flags', () => {
    expect(() => loadTlsMaterial({cert: p('a.crt'), ca: p('ca.crt')}, 'certificate')).toThrow('TLS needs --tls-key too (given: --tls-cert, --tls-ca)')
    expect(() => loadTlsMaterial({ca: p('ca.crt')}, 'certificate')).toThrow('TLS needs --tls-cert and --tls-key too')
    expect(() => loadTlsMaterial({key: p('a.key'), ca: p('ca.crt')}, 'ca-only')).toThrow('--tls-cert')
  })

  it('names an unreadable file, a file without PEM, and a key of another certificate, never their contents', () => {
    expect(() => loadTlsMaterial({ca: p('absent')}, 'ca-only')).toThrow(`--tls-ca: cannot read ${p('absent')} (no such file)`)
    expect(() => loadTlsMaterial({ca: p('junk')}, 'ca-only')).toThrow(`--tls-ca: ${p('junk')} holds no PEM CERTIFICATE`)
    let message = ''
    try {
      loadTlsMaterial({cert: p('a.crt'), key: p('b.key'), ca: p('ca.crt')}, 'certificate')
    } catch (err) {
      message = (err as Error).message
    }
    expect(message).toMatch(/cannot be used together: the key does not belong to the certificate|OpenSSL refused/)
    expect(message).not.toContain('PRIVATE KEY')
    expect((() => { try { loadTlsMaterial({ca: p('junk')}, 'ca-only') } catch (e) { return (e as {code: string}).code } })()).toBe('BAD_INPUT')
  })
})
