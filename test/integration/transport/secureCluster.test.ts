import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleepFor} from 'node:timers/promises'
import {request} from 'undici'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {setNodeState} from '../../../src/cluster/nodeService.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../../src/cluster/snapshotService.js'
import {executePlan} from '../../../src/executor/executePlan.js'
import {DEFAULT_EXECUTOR_OPTIONS} from '../../../src/executor/executorEnv.js'
import {loadClusterToken} from '../../../src/node/clusterToken.js'
import {NodeClient} from '../../../src/node/nodeClient.js'
import {planRebalance} from '../../../src/planner/planRebalance.js'
import {RouterClient} from '../../../src/router/routerClient.js'
import {ROUTER_ROUTES} from '../../../src/router/routerHttp.js'
import {setClusterSecurity} from '../../../src/security/clusterSecurity.js'
import {addUser, putRole} from '../../../src/security/userService.js'
import {dataPlaneUrl, setDefaultClientTls, sharedDispatcher} from '../../../src/transport/clientTls.js'
import {loadTlsMaterial, type TlsMaterial} from '../../../src/transport/tlsMaterial.js'
import {spawnCli} from '../../support/cliChild.js'
import {DataPlanePki, tlsEnvOf} from '../../support/dataPlanePki.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'
import {type NodeProcess, startNodeProcess} from '../node/nodeProcess.js'
import {type RouterProcess, startRouterProcess} from '../router/routerProcess.js'

// A TLS-only cluster on real processes: etcd, three `node serve` children with mutual TLS,
// one `router serve` child over HTTPS with authentication on, and the executor in-process.
const stores = new StoreSet()
const procs: (NodeProcess | RouterProcess)[] = []
const NODE_IDS = ['n1', 'n2', 'n3']
const ports: Record<string, number> = {}
let dir: string
let ctx: ServiceContext
let endpoint: string
let cluster: string
let pki: DataPlanePki
let other: DataPlanePki
let router: RouterProcess
let executorTls: TlsMaterial
let userTls: TlsMaterial
let caOnly: TlsMaterial
const tokens: Record<string, string> = {}

beforeAll(async () => {
  endpoint = inject('etcdEndpoint')
  cluster = uniqueCluster('tls')
  ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
  dir = mkdtempSync(join(tmpdir(), 'shardctl-tls-'))
  pki = await DataPlanePki.create()
  other = await DataPlanePki.create('another-ca')
  await initCluster(ctx, {shards: 4, rf: 2, nodes: parseNodeSpecs(NODE_IDS.map((id, i) => `${id}=127.0.0.1:${i + 1}`).join(',')), force: false})
  await setClusterSecurity(ctx, {tlsOnly: true})
  executorTls = loadTlsMaterial(await pki.issue('executor', 'client'), 'certificate')!
  userTls = loadTlsMaterial(await pki.issue('carol', 'client'), 'certificate')!
  caOnly = loadTlsMaterial({ca: pki.caFile}, 'ca-only')!
  for (const id of NODE_IDS) {
    const files = await pki.issue(id, 'node')
    // Port 0 (the records name placeholder ports until each node registers the one it bound).
    const p = await startNodeProcess({endpoint, cluster, id, port: 0, dataDir: join(dir, id), env: tlsEnvOf(files), tls: executorTls})
    ports[id] = Number(p.address.slice(p.address.lastIndexOf(':') + 1))
    procs.push(p)
  }
  router = await startRouterProcess({endpoint, cluster, id: 'r1', env: tlsEnvOf(await pki.issue('r1', 'node')), tls: caOnly}, 45_000)
  procs.push(router)
}, 180_000)

afterAll(async () => {
  setDefaultClientTls(undefined)
  await Promise.all(procs.map((p) => p.kill()))
  stores.closeAll()
  rmSync(dir, {recursive: true, force: true})
  pki?.remove()
  other?.remove()
})

/** raw sends one request to the router and returns the status and body (nothing retried). */
async function raw(method: 'GET' | 'PUT' | 'DELETE', path: string, opts: {token?: string; tls?: TlsMaterial; body?: string} = {}): Promise<{status: number; body: string}> {
  const tls = opts.tls ?? caOnly
  const res = await request(dataPlaneUrl(router.address, tls, path), {method, body: opts.body, dispatcher: sharedDispatcher(tls), headers: opts.token ? {authorization: `Bearer ${opts.token}`} : {}, headersTimeout: 10_000, bodyTimeout: 10_000})
  return {status: res.statusCode, body: await res.body.text()}
}

describe('a TLS-only cluster', () => {
  it('refuses to start a node without certificates, naming the cluster and the flags', async () => {
    const child = spawnCli(['node', 'serve', '--endpoints', endpoint, '--cluster', cluster, '--id', 'n9', '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'n9')])
    procs.push(child)
    const code = await Promise.race([child.exited, sleepFor(30_000).then(() => 'timeout')])
    expect(code).toBe(22)
    expect(child.logs()).toMatch(new RegExp(`cluster "${cluster}" is TLS-only: node n9 cannot run in plaintext.*--tls-cert`, 's'))
  })

  it('a node answers a plaintext client TLS_REQUIRED, and refuses a client certificate of another CA', async () => {
    const token = await loadClusterToken(ctx, {create: false})
    const plain = new NodeClient({node: 'n1', address: `127.0.0.1:${ports.n1}`, token, timeoutMs: 5000, tls: undefined})
    // An explicit `tls: undefined` still means the process default; this test process has none set yet.
    await expect(plain.health()).rejects.toMatchObject({code: 'TLS_REQUIRED'})
    await plain.destroy()
    const foreign = loadTlsMaterial({...(await other.issue('mallory', 'client')), ca: pki.caFile}, 'certificate')!
    const stranger = new NodeClient({node: 'n1', address: `127.0.0.1:${ports.n1}`, token, timeoutMs: 5000, tls: foreign})
    await expect(stranger.health()).rejects.toMatchObject({code: 'NODE_UNREACHABLE'})
    await stranger.destroy()
    const wrongCa = new NodeClient({node: 'n1', address: `127.0.0.1:${ports.n1}`, token, timeoutMs: 5000, tls: {...executorTls, ca: Buffer.from(other.ca.certPem)}})
    await expect(wrongCa.health()).rejects.toThrow(/not signed by the cluster CA/)
    await wrongCa.destroy()
    const member = new NodeClient({node: 'n1', address: `127.0.0.1:${ports.n1}`, token, timeoutMs: 5000, tls: executorTls})
    expect((await member.health()).serving).toBe(true)
    await member.destroy()
  })

  it('writes and reads through the router over TLS, and the router refuses plaintext', async () => {
    const client = new RouterClient(router.address, 10_000, 2, {tls: caOnly})
    try {
      const {version} = await client.put('app/greeting', Buffer.from('hello'))
      expect(await client.get('app/greeting')).toEqual({found: true, value: Buffer.from('hello'), version})
    } finally {
      await client.close()
    }
    const plain = await request(`http://${router.address}/kv/app/greeting`, {headersTimeout: 5000, bodyTimeout: 5000})
    expect(plain.statusCode).toBe(400)
    expect(JSON.parse(await plain.body.text()).code).toBe('TLS_REQUIRED')
  })

  it('with authentication on: 401 without credentials on every route, 403 outside a role, nothing changed', async () => {
    await putRole(ctx, 'reader', 'read', ['app/'])
    await putRole(ctx, 'writer', 'write', [''])
    await putRole(ctx, 'app-writer', 'write', ['app/'])
    tokens.alice = (await addUser(ctx, 'alice', ['reader'], {token: true, certificate: false})).token!
    tokens.bob = (await addUser(ctx, 'bob', ['writer'], {token: true, certificate: false})).token!
    await addUser(ctx, 'carol', ['app-writer'], {token: false, certificate: true})
    await setClusterSecurity(ctx, {authRequired: true})
    // Routers re-read the settings about every second: wait (bounded) until this one enforces them.
    await expect.poll(async () => (await raw('GET', '/kv/app/greeting')).status, {timeout: 15_000, interval: 200}).toBe(401)

    // Every route the router serves comes from its route table: a new one is covered here by construction.
    expect(ROUTER_ROUTES.filter((r) => r.access === 'open').map((r) => `${r.method} ${r.path}`)).toEqual(['GET /healthz'])
    for (const {method, path, access} of ROUTER_ROUTES) {
      const target = path.startsWith('/kv/') ? '/kv/app/greeting' : path
      const r = await raw(method, target, {body: method === 'PUT' ? 'changed' : undefined})
      if (access === 'open') {
        expect(r.status, `${method} ${path}`).toBe(200)
        expect(r.body).not.toContain('hello')
        continue
      }
      expect(r.status, `${method} ${path}`).toBe(401)
      expect(JSON.parse(r.body).code).toBe('UNAUTHORIZED')
    }
    expect((await raw('GET', '/kv/app/greeting', {token: `${tokens.alice}x`})).status).toBe(401)
    expect((await raw('GET', '/kv/app/greeting', {token: tokens.bob!.replace(/^bob/, 'alice')})).status).toBe(401)

    // alice reads app/, but may not write it nor read elsewhere.
    expect(await raw('GET', '/kv/app/greeting', {token: tokens.alice})).toEqual({status: 200, body: 'hello'})
    // A read-only role gets 403 on every route that writes (again from the table).
    const writeRoutes = ROUTER_ROUTES.filter((r) => r.access === 'write')
    expect(writeRoutes.length).toBeGreaterThanOrEqual(2)
    for (const {method} of writeRoutes) {
      const denied = await raw(method, '/kv/app/greeting', {token: tokens.alice, body: method === 'PUT' ? 'changed' : undefined})
      expect(denied.status, method).toBe(403)
      expect(JSON.parse(denied.body)).toMatchObject({code: 'FORBIDDEN', message: expect.stringContaining('user "alice" may not write')})
    }
    expect((await raw('GET', '/kv/other/key', {token: tokens.alice})).status).toBe(403)
    expect((await raw('GET', '/metrics', {token: tokens.bob})).status).toBe(403)
    // Nothing the refused requests tried landed.
    expect(await raw('GET', '/kv/app/greeting', {token: tokens.bob})).toEqual({status: 200, body: 'hello'})

    // bob writes anywhere; carol proves herself with a client certificate and writes app/ only.
    expect((await raw('PUT', '/kv/other/key', {token: tokens.bob, body: 'b'})).status).toBe(204)
    expect((await raw('PUT', '/kv/app/carol', {tls: userTls, body: 'c'})).status).toBe(204)
    expect((await raw('PUT', '/kv/other/carol', {tls: userTls, body: 'c'})).status).toBe(403)
    expect(await raw('GET', '/kv/app/carol', {token: tokens.bob})).toEqual({status: 200, body: 'c'})
    // The router's log holds no token.
    expect(router.logs()).not.toContain(tokens.alice!.split('.')[1]!)
    expect(router.logs()).not.toContain(tokens.bob!.split('.')[1]!)
  })

  it('moves shards over mutual TLS: every acknowledged write is still readable after node n3 is drained', async () => {
    const writer = new RouterClient(router.address, 10_000, 4, {tls: caOnly, token: tokens.bob})
    const written = new Map<string, string>()
    // Aborted in finally: a timed-out test must not leave its executor running (and holding the lock).
    const abort = new AbortController()
    try {
      for (let i = 0; i < 60; i++) {
        const key = `app/move-${i}`
        await writer.put(key, Buffer.from(`v${i}`))
        written.set(key, `v${i}`)
      }
      setDefaultClientTls(executorTls)
      await setNodeState(ctx, 'n3', 'draining')
      const plan = planRebalance(await readSnapshot(ctx), {drainOnly: true}, {id: 'tls-drain', createdAt: new Date().toISOString()})
      expect(plan.actions.length).toBeGreaterThan(0)
      const result = await executePlan(
        ctx,
        {plan, limits: {maxConcurrent: 2, perNode: 1}, throttle: null, nodeThrottle: null, options: {...DEFAULT_EXECUTOR_OPTIONS, drainTimeoutMs: 2000, barrierTimeoutMs: 15_000}, confirm: async () => true, holder: 'tls-test'},
        {now: () => Date.now(), sleep: (ms, s) => sleepFor(ms, undefined, {signal: s}).catch(() => {}), emit: () => {}},
        abort.signal,
      )
      expect(result.moves.every((m) => m.phase === 'done'), JSON.stringify(result.moves.map((m) => [m.id, m.phase]))).toBe(true)
      const {shards} = await listShards(ctx)
      expect(shards.some((s) => s.value.replicas.some((r) => r.node === 'n3'))).toBe(false)
      for (const [key, value] of written) expect((await writer.get(key)) as {value: Buffer}).toMatchObject({found: true, value: Buffer.from(value)})
    } finally {
      abort.abort()
      await writer.close()
    }
  }, 120_000)
})
