import {existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {isUserError} from '../../src/errors/errors.js'
import {createCaFiles, createLeafFiles} from '../../src/security/certFiles.js'
import {certHostProblem} from '../../src/security/certHost.js'

let dir: string
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'shardctl-certs-'))))
afterEach(() => rmSync(dir, {recursive: true, force: true}))

const now = new Date('2026-01-02T03:04:05.678Z')

describe('cert create-node --host', () => {
  it('takes IP addresses and DNS names, a leading wildcard included', () => {
    for (const ok of ['127.0.0.1', '::1', '10.0.0.7', 'localhost', 'router.internal', 'node-1.example.com', '*.nodes.internal']) expect(certHostProblem(ok), ok).toBeNull()
  })

  it('refuses what is neither, saying why', () => {
    expect(certHostProblem('127.0.0.1:7101')).toMatch(/with a port/)
    expect(certHostProblem('999.1.1.1')).toMatch(/not a valid IPv4 address/)
    for (const bad of ['bad host!', 'node_1.internal', '-lead.example', 'a..b', '', `${'a'.repeat(64)}.example`]) expect(certHostProblem(bad), bad).not.toBeNull()
  })

  it('given a host that is neither an IP nor a DNS name, when a node certificate is created, then BAD_INPUT names it and nothing is written', async () => {
    await createCaFiles({dir, days: 30, force: false, now, commonName: 'test-ca'})
    let err: unknown
    await createLeafFiles('node', 'n1', ['127.0.0.1', '127.0.0.1:7101'], {dir, days: 30, force: false, now}).catch((e: unknown) => (err = e))
    expect(isUserError(err, 'BAD_INPUT')).toBe(true)
    expect((err as Error).message).toBe('--host "127.0.0.1:7101" is an address with a port: give the host alone; nothing was written')
    expect(existsSync(join(dir, 'node.n1.crt'))).toBe(false)
    expect(existsSync(join(dir, 'node.n1.key'))).toBe(false)
    await createLeafFiles('node', 'n1', ['127.0.0.1', 'localhost'], {dir, days: 30, force: false, now})
    expect(existsSync(join(dir, 'node.n1.crt'))).toBe(true)
  })

  it('given a --certs-dir through a file, when a CA is created, then BAD_INPUT names it (it was "unexpected failure … this is a bug")', async () => {
    const file = join(dir, 'plain')
    writeFileSync(file, 'x')
    let err: unknown
    await createCaFiles({dir: join(file, 'certs'), days: 30, force: false, now, commonName: 'test-ca'}).catch((e: unknown) => (err = e))
    expect(isUserError(err, 'BAD_INPUT')).toBe(true)
    expect((err as Error).message).toMatch(/^cannot create --certs-dir .*plain\/certs: it or a parent of it is a file; nothing was written$/)
  })

  it('given --force over a certificate path that is a directory, when a CA is created, then BAD_INPUT says why in words (it was "unexpected failure … this is a bug")', async () => {
    const certsDir = join(dir, 'forced')
    const first = await createCaFiles({dir: certsDir, days: 30, force: false, now, commonName: 'test-ca'})
    rmSync(first.key)
    mkdirSync(first.key)
    let err: unknown
    await createCaFiles({dir: certsDir, days: 30, force: true, now, commonName: 'test-ca'}).catch((e: unknown) => (err = e))
    expect(isUserError(err, 'BAD_INPUT')).toBe(true)
    expect((err as Error).message).toBe(`cannot write the certificate into --certs-dir ${certsDir}: it is a directory`)
  })
})
