import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {keyHash} from '../../../src/model/hash.js'
import {type Shard, ShardSchema} from '../../../src/model/shard.js'
import {loadClusterToken} from '../../../src/node/clusterToken.js'
import {NodeClient} from '../../../src/node/nodeClient.js'
import {defaultClientTls} from '../../../src/transport/clientTls.js'
import {dataPlaneFetch} from '../../support/dataPlaneFetch.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'
import {type NodeProcess, startNodeProcess} from '../node/nodeProcess.js'
import {type RouterProcess, startRouterProcess} from './routerProcess.js'

/**
 * DataPlane is one test file's cluster on the shared etcd: `nodes` storage node processes,
 * routers started on demand, node clients, and teardown that kills every process and
 * removes every data dir. Everything listens on 127.0.0.1 at run-time ports.
 */
export class DataPlane {
  readonly stores = new StoreSet()
  readonly ctx: ServiceContext
  readonly cluster: string
  /** ports: node id → the port it listens on (known once it started: see startNode). */
  readonly ports: Record<string, number> = {}
  readonly dataDirs: Record<string, string> = {}
  readonly nodes: Record<string, NodeProcess> = {}
  readonly routers: RouterProcess[] = []
  private readonly procs: (NodeProcess | RouterProcess)[] = []
  private readonly clients: NodeClient[] = []
  token = ''
  /** nodeArgs are extra `node serve` flags every node (re)start gets (set before init). */
  nodeArgs: string[] = []
  /** statsInterval is every node's --stats-interval (set before init; default: startNodeProcess's). */
  statsInterval?: string
  /** hosts: process id (n1, r1, ...) → the 127.x address it listens on (default 127.0.0.1); set before init. */
  hosts: Record<string, string> = {}
  /** readyTimeoutMs bounds each node or router start (raise it for tests that start many processes on a loaded machine). */
  readyTimeoutMs = 45_000
  /** childEnv: extra environment of process `id`'s child. */
  childEnv: (id: string) => Record<string, string> = () => ({})
  /** nodeLeaseTtl: every node's --lease-ttl (set before init; default: startNodeProcess's). */
  nodeLeaseTtl?: string
  /** nodeEndpoint: the etcd endpoint node `id` talks to (default the shared one; a test's TCP proxy to slow or cut it). */
  nodeEndpoint: (id: string) => string = () => this.endpoint

  constructor(
    readonly endpoint: string,
    label: string,
  ) {
    this.cluster = uniqueCluster(label)
    this.ctx = makeServiceContext(this.stores.open(endpoint, this.cluster), {cluster: this.cluster})
  }

  /** init creates the cluster (ids n1..nN), starts every node and loads the token. */
  async init(nodeCount: number, shards: number, rf: number): Promise<void> {
    const ids = Array.from({length: nodeCount}, (_, i) => `n${i + 1}`)
    for (const id of ids) this.dataDirs[id] = mkdtempSync(join(tmpdir(), `shardctl-rt-${id}-`))
    // The records name placeholder ports (1, 2, ...: nothing listens there) until each node
    // registers the port it bound: nodes start on port 0, so no other process can take a node's
    // port between choosing and binding it, as one could a port freePort chose.
    await initCluster(this.ctx, {shards, rf, nodes: parseNodeSpecs(ids.map((id, i) => `${id}=${this.host(id)}:${i + 1}`).join(',')), force: false})
    await Promise.all(ids.map((id) => this.startNode(id)))
    this.token = await loadClusterToken(this.ctx, {create: false})
  }

  /**
   * startNode (re)starts node `id` on its data dir: the first start on any free port (port 0,
   * recorded in {@link ports} from its ready line), a restart on that same port (tests and
   * clients keep its address; taken for a moment, it is tried again).
   */
  async startNode(id: string, env?: Record<string, string>, extra: string[] = []): Promise<NodeProcess> {
    const p = await startNodeProcess({endpoint: this.nodeEndpoint(id), cluster: this.cluster, id, port: this.ports[id] ?? 0, dataDir: this.dataDirs[id]!, host: this.host(id), env: {...this.childEnv(id), ...env}, extra: [...this.nodeArgs, ...extra], statsInterval: this.statsInterval, leaseTtl: this.nodeLeaseTtl, tls: defaultClientTls()}, this.readyTimeoutMs)
    this.procs.push(p)
    this.nodes[id] = p
    this.ports[id] = Number(p.address.slice(p.address.lastIndexOf(':') + 1))
    return p
  }

  /** startRouter starts a router process (talking to etcd at `endpoint`, default the shared one). */
  async startRouter(id: string, extra: string[] = [], endpoint = this.endpoint, env?: Record<string, string>): Promise<RouterProcess> {
    const r = await startRouterProcess({endpoint, cluster: this.cluster, id, extra, host: this.host(id), env: {...this.childEnv(id), ...env}, tls: defaultClientTls()}, this.readyTimeoutMs)
    this.procs.push(r)
    this.routers.push(r)
    return r
  }

  /** client returns a node client (closed at teardown). */
  client(id: string): NodeClient {
    const c = new NodeClient({node: id, address: `${this.host(id)}:${this.ports[id]}`, token: this.token, timeoutMs: 10_000})
    this.clients.push(c)
    return c
  }

  /** shards reads the current shard map. */
  async shards(): Promise<Shard[]> {
    return (await this.ctx.store.listTyped(this.ctx.keys.shardsPrefix, ShardSchema)).items.map((i) => i.value)
  }

  /** teardown kills every process, closes clients and stores, removes data dirs. */
  async teardown(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.destroy()))
    await Promise.all(this.procs.map((p) => p.kill()))
    this.stores.closeAll()
    for (const d of Object.values(this.dataDirs)) rmSync(d, {recursive: true, force: true})
  }

  /** nodeLogs is the stderr of every node process started so far (restarted ones included), concatenated. */
  nodeLogs(): string {
    return this.procs
      .filter((p) => !this.routers.includes(p as RouterProcess))
      .map((p) => p.logs())
      .join('')
  }

  /** host is where process `id` listens. */
  host(id: string): string {
    return this.hosts[id] ?? '127.0.0.1'
  }
}

/** keyFor finds a key (bounded search) that hashes into `shard`'s range. */
export function keyFor(shard: Shard, prefix: string): string {
  for (let i = 0; i < 100_000; i++) {
    const k = `${prefix}-${i}`
    const h = keyHash(k)
    if (h >= shard.range.lo && h < shard.range.hi) return k
  }
  throw new Error('no key found')
}

/** waitFor polls `fn` until it returns a value (bounded by `timeoutMs`). */
export async function waitFor<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const v = await fn().catch(() => undefined)
    if (v !== undefined) return v
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** kv is a tiny client of the router's API for tests. */
export async function kv(address: string, method: 'GET' | 'PUT' | 'DELETE', key: string, body?: Buffer | string): Promise<{status: number; version: string | null; removedValue: string | null; body: Buffer; json?: Record<string, unknown>}> {
  const res = await dataPlaneFetch(address, `/kv/${encodeURIComponent(key)}`, {method, body, signal: AbortSignal.timeout(15_000)})
  const buf = Buffer.from(await res.arrayBuffer())
  const json = res.headers.get('content-type')?.includes('json') ? (JSON.parse(buf.toString()) as Record<string, unknown>) : undefined
  return {status: res.status, version: res.headers.get('x-shardctl-version'), removedValue: res.headers.get('x-shardctl-removed-value'), body: buf, json}
}
