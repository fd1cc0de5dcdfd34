import {existsSync, mkdtempSync, readFileSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {runCli, type CliResult} from '../support/runCli.js'
import {uniqueCluster} from '../support/testStore.js'

// The cert, role, user and cluster security commands as a user runs them: real processes on
// the shared etcd. Secrets (private keys, tokens) must appear in no output, and bad input
// gets a one-line error, its exit code, and changes nothing. Each CLI start costs about a
// second on an idle machine (many more on a loaded one), hence the long timeouts.
let cwd: string
let endpoint: string
const cluster = uniqueCluster('seccli')
const outputs: string[] = []

async function cli(args: string[], etcd = true): Promise<CliResult> {
  const r = await runCli(etcd ? [...args, '--endpoints', endpoint, '--cluster', cluster] : args, {cwd, timeoutMs: 60_000})
  outputs.push(r.stdout, r.stderr)
  return r
}

beforeAll(async () => {
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-seccli-'))
  endpoint = inject('etcdEndpoint')
  const init = await cli(['cluster', 'init', '--shards', '2', '--rf', '1', '--nodes', 'n1=127.0.0.1:1'])
  expect(init.code, init.stderr).toBe(0)
}, 60_000)
afterAll(() => rmSync(cwd, {recursive: true, force: true}))

describe('cert commands', () => {
  it('write a CA and certificates with 0600 keys, refuse to overwrite, and never print a key', async () => {
    expect((await cli(['cert', 'create-ca', '--certs-dir', 'certs'], false)).code).toBe(0)
    const caKey = readFileSync(join(cwd, 'certs/ca.key'), 'utf8')
    const again = await cli(['cert', 'create-ca', '--certs-dir', 'certs'], false)
    expect(again.code).toBe(6)
    expect(again.stderr).toContain('already exist')
    expect(readFileSync(join(cwd, 'certs/ca.key'), 'utf8')).toBe(caKey)

    expect((await cli(['cert', 'create-node', 'n1', '--host', '127.0.0.1', '--certs-dir', 'certs'], false)).code).toBe(0)
    const json = await cli(['cert', 'create-client', 'alice', '--certs-dir', 'certs', '--json'], false)
    expect(JSON.parse(json.stdout)).toMatchObject({cert: 'certs/client.alice.crt', key: 'certs/client.alice.key', commonName: 'alice'})
    for (const f of ['ca.key', 'node.n1.key', 'client.alice.key']) expect(statSync(join(cwd, 'certs', f)).mode & 0o777, f).toBe(0o600)

    expect((await cli(['cert', 'create-node', 'n2', '--certs-dir', 'nowhere', '--host', '127.0.0.1'], false)).code).toBe(1)
    expect((await cli(['cert', 'create-node', 'bad.name', '--certs-dir', 'certs', '--host', '127.0.0.1'], false)).code).toBe(2)
    const keys = ['ca.key', 'node.n1.key', 'client.alice.key'].map((f) => readFileSync(join(cwd, 'certs', f), 'utf8').split('\n')[1]!)
    for (const k of keys) for (const o of outputs) expect(o).not.toContain(k)
  }, 240_000)
})

describe('role, user and cluster security commands', () => {
  it('refuse bad input changing nothing, write tokens only to a 0600 file, and list no secret', async () => {
    const noFile = await cli(['user', 'add', 'alice', '--role', 'reader'])
    expect(noFile.code).toBe(2)
    expect(noFile.stderr).toContain('--token-file is required')
    const noRole = await cli(['user', 'add', 'alice', '--role', 'reader', '--token-file', 'alice.token'])
    expect(noRole.code).toBe(1)
    expect(noRole.stderr).toContain('no role "reader"')
    // The refused user left no token file behind: the file is reserved first and dropped on failure.
    expect(existsSync(join(cwd, 'alice.token'))).toBe(false)
    expect(JSON.parse((await cli(['user', 'list', '--json'])).stdout)).toEqual([])

    const role = await cli(['role', 'add', 'reader', '--access', 'read', '--prefix', 'app/'])
    expect(role.code, role.stderr).toBe(0)
    expect((await cli(['role', 'add', 'reader', '--access', 'read', '--prefix', 'app/'])).stdout).toContain('role reader already grants read on "app/": nothing changed')
    const added = await cli(['user', 'add', 'alice', '--role', 'reader', '--token-file', 'alice.token', '--json'])
    expect(added.code, added.stdout + added.stderr).toBe(0)
    const token = readFileSync(join(cwd, 'alice.token'), 'utf8').trim()
    expect(token).toMatch(/^alice\.[A-Za-z0-9_-]{43}$/)
    expect(statSync(join(cwd, 'alice.token')).mode & 0o777).toBe(0o600)
    expect((await cli(['user', 'add', 'alice', '--role', 'reader', '--token-file', 'other.token'])).code).toBe(6)
    // A token file that cannot be written (here a directory) is refused before the user is recorded:
    // a user whose token was stored but never shown could not log in, and adding it again said "already exists".
    const intoDir = await cli(['user', 'add', 'carol', '--role', 'reader', '--token-file', '.'])
    expect(intoDir.code).not.toBe(0)
    expect(intoDir.stderr).toContain('nothing was changed')
    expect(JSON.parse((await cli(['user', 'list', '--json'])).stdout).map((u: {name: string}) => u.name)).toEqual(['alice'])

    const rotated = await cli(['user', 'add-token', 'alice', '--token-file', 'alice.next.token', '--json'])
    expect(JSON.parse(rotated.stdout).tokens).toHaveLength(2)
    const listed = await cli(['user', 'list', '--json'])
    expect(listed.stdout).not.toMatch(/sha256|[a-f0-9]{64}/)
    const oldId = JSON.parse(listed.stdout)[0].tokens[0].id as string
    expect((await cli(['user', 'revoke-token', 'alice', oldId])).stdout).toContain(`revoked token ${oldId}`)
    expect((await cli(['user', 'revoke-token', 'alice', oldId])).stdout).toContain(`user alice has no token ${oldId}: nothing to revoke`)

    // Turning a switch on can lock everyone out: with no terminal to ask on it needs --yes, and refuses changing nothing without it.
    const unconfirmed = await cli(['cluster', 'security', '--tls-only', '--auth'])
    expect(unconfirmed.code).toBe(2)
    expect(unconfirmed.stderr.trim()).toBe('Error: refusing to turn on tls-only and auth without confirmation: stdin is not a terminal, so the question could not be answered — pass --yes to run non-interactively (CI)')
    expect((await cli(['cluster', 'security'])).stdout.trim()).toMatch(/^cluster \S+: tls-only off, authentication off$/)
    expect(JSON.parse((await cli(['cluster', 'security', '--tls-only', '--yes', '--json'])).stdout)).toMatchObject({tlsOnly: true, authRequired: false, changed: true})
    // A switch already on, or one turned off, asks nothing.
    expect((await cli(['cluster', 'security', '--tls-only'])).stdout).toContain('already: tls-only on')
    expect((await cli(['cluster', 'security', '--no-auth'])).stdout).toContain('already: tls-only on, authentication off')
    const badCa = await cli(['kv', 'get', 'app/x', '--router', '127.0.0.1:1', '--tls-ca', 'certs/ca.key'])
    expect(badCa.code).toBe(2)
    expect(badCa.stderr).toContain('--tls-ca: certs/ca.key holds no PEM CERTIFICATE')

    const secrets = [token.split('.')[1]!, readFileSync(join(cwd, 'alice.next.token'), 'utf8').trim().split('.')[1]!]
    for (const s of secrets) for (const o of outputs) expect(o).not.toContain(s)
  }, 300_000)
})
