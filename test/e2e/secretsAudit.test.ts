import {randomBytes} from 'node:crypto'
import {mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Range} from 'etcd3'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {freePort} from '../../src/localEtcd/freePort.js'
import {loadClusterToken} from '../../src/node/clusterToken.js'
import {type NodeProcess, startNodeProcess} from '../integration/node/nodeProcess.js'
import {kv} from '../integration/router/dataPlane.js'
import {type RouterProcess, startRouterProcess} from '../integration/router/routerProcess.js'
import {startPrivateEtcd, type PrivateEtcd} from '../support/privateEtcd.js'
import {runCli, type CliResult} from '../support/runCli.js'
import {etcdAdminClient, StoreSet, uniqueCluster} from '../support/testStore.js'

/**
 * Secrets audit on real processes: an etcd with auth enabled (a user whose role is limited
 * to the cluster's prefix, with a distinctive password),
 * two storage nodes and a router started with those credentials, and the CLI run through
 * its everyday commands — successes, --json output, plan files and failures (wrong
 * password, an unknown node, bad tokens). Neither the etcd password nor the cluster token
 * may appear in any stdout, stderr, JSON line, log line or written file.
 */
const PASSWORD = `pw-${randomBytes(12).toString('hex')}`
const stores = new StoreSet()
const cluster = uniqueCluster('secrets')
let etcd: PrivateEtcd
let cwd: string
let token = ''
const outputs: {what: string; text: string}[] = []
const procs: (NodeProcess | RouterProcess)[] = []
const dataDirs: string[] = []
let router: RouterProcess

const creds = ['--user', 'shardctl'] // the password comes from ETCDCTL_PASSWORD, as in CI secrets
const env = {ETCDCTL_PASSWORD: PASSWORD}

async function cli(args: string[], extraEnv: Record<string, string> = env): Promise<CliResult> {
  const r = await runCli([...args, '--endpoints', etcd.endpoint, '--cluster', cluster], {cwd, env: extraEnv, timeoutMs: 60_000})
  outputs.push({what: `shardctl ${args.join(' ')} (stdout)`, text: r.stdout}, {what: `shardctl ${args.join(' ')} (stderr)`, text: r.stderr})
  return r
}

beforeAll(async () => {
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-secrets-'))
  etcd = await startPrivateEtcd()
  const admin = etcdAdminClient(etcd.endpoint)
  // root (needed to enable auth) has another password; shardctl runs as a user whose role
  // may only read and write the cluster's prefix, as the README recommends.
  await admin.user('root').create(`root-${PASSWORD}`)
  await admin.user('root').addRole('root')
  const role = await admin.role('shardctl').create()
  await role.grant({permission: 'Readwrite', range: Range.prefix(`/shardctl/${cluster}/`)})
  await admin.user('shardctl').create(PASSWORD)
  await admin.user('shardctl').addRole('shardctl')
  await admin.auth.authEnable()
  admin.close()
}, 60_000)

afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill()))
  stores.closeAll()
  await etcd?.dispose()
  rmSync(cwd, {recursive: true, force: true})
  for (const d of dataDirs) rmSync(d, {recursive: true, force: true})
})

describe('secrets never leak', () => {
  it('runs a cluster with etcd auth through its everyday commands and failures', async () => {
    const ports = [await freePort(), await freePort()]
    const init = await cli(['cluster', 'init', '--shards', '4', '--rf', '2', '--nodes', `n1=127.0.0.1:${ports[0]},n2=127.0.0.1:${ports[1]}`, '--json', ...creds])
    expect(init.code, init.stderr).toBe(0)
    for (const [i, id] of ['n1', 'n2'].entries()) {
      const dir = mkdtempSync(join(tmpdir(), `shardctl-secrets-${id}-`))
      dataDirs.push(dir)
      procs.push(await startNodeProcess({endpoint: etcd.endpoint, cluster, id, port: ports[i]!, dataDir: dir, extra: [...creds, '--password', PASSWORD]}, 45_000))
    }
    router = await startRouterProcess({endpoint: etcd.endpoint, cluster, id: 'r1', extra: [...creds, '--password', PASSWORD]}, 45_000)
    procs.push(router)
    const ctx = makeServiceContext(stores.open(etcd.endpoint, cluster, {user: 'shardctl', password: PASSWORD}), {cluster})
    token = await loadClusterToken(ctx, {create: false})
    expect(token.length).toBeGreaterThan(8)

    expect((await kv(router.address, 'PUT', 'k1', 'v1')).status).toBe(204)
    for (const args of [['cluster', 'status', '--json'], ['kv', 'get', 'k1', '--router', router.address, '--json'], ['repair', '--json'], ['plan', '--out', 'p.json', '--json']]) {
      const r = await cli([...args, ...creds])
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBeLessThan(20)
    }
    // Failures: a wrong password (in --user name:password, and in the environment with --json), an unknown node.
    const wrong = await cli(['cluster', 'status', '--user', `shardctl:${PASSWORD}x`], {})
    expect(wrong.code).toBe(4)
    const wrongJson = await cli(['node', 'list', '--json', ...creds], {ETCDCTL_PASSWORD: `${PASSWORD}-wrong`})
    expect(wrongJson.code).toBe(4)
    const missing = await cli(['node', 'show', 'nope', ...creds, '--json'])
    expect(missing.code).not.toBe(0)
    // The data plane: no token, a wrong token, and a token-shaped guess all get 401 without echoing anything secret.
    for (const headers of [{}, {'x-shardctl-token': `${token}x`}, {'x-shardctl-token': ''}, {'x-shardctl-token': token.slice(0, 8)}] as Record<string, string>[]) {
      const res = await fetch(`http://127.0.0.1:${ports[0]}/v1/stats`, {headers, signal: AbortSignal.timeout(5000)})
      expect(res.status).toBe(401)
      outputs.push({what: `node 401 body`, text: await res.text()})
    }
  }, 240_000)

  it('neither the etcd password nor the cluster token appears in any output, log or plan file', async () => {
    for (const p of procs) outputs.push({what: `process ${p.pid} stderr`, text: p.logs()}, {what: `process ${p.pid} stdout`, text: p.stdout()})
    for (const f of readdirSync(cwd, {recursive: true, withFileTypes: true})) {
      if (f.isFile()) outputs.push({what: `file ${f.name}`, text: readFileSync(join(f.parentPath, f.name), 'utf8')})
    }
    expect(outputs.some((o) => o.what.startsWith('file p.json'))).toBe(true)
    expect(token).not.toBe('')
    const leaks = outputs.filter((o) => o.text.includes(PASSWORD) || o.text.includes(token)).map((o) => `${o.what}: ${o.text.slice(0, 300)}`)
    expect(leaks).toEqual([])
    expect(outputs.length).toBeGreaterThan(15)
  })
})
