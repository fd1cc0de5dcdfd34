import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {freePort} from '../../../src/localEtcd/freePort.js'
import {type Shard, ShardSchema} from '../../../src/model/shard.js'
import {loadClusterToken} from '../../../src/node/clusterToken.js'
import {NodeClient} from '../../../src/node/nodeClient.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'
import {type NodeProcess, startNodeProcess} from './nodeProcess.js'

/** ClusterLayout is what {@link registerCluster} writes to etcd: the shards and the node records. */
export interface ClusterLayout {
  shards: number
  rf: number
  /** nodes are the node ids to register, each at its own free port. */
  nodes: string[]
  /** zones, when given, are the nodes' zones in the same order. */
  zones?: string[]
  /** host is the host of the addresses the node records name (default 127.0.0.1). */
  host?: string
  /**
   * portZero: the records name placeholder ports (1, 2, …: nothing listens there) and `ports`
   * starts empty; the nodes start on port 0 and register the port they bound, which the test
   * records in `ports` (no other process can take a node's port between choosing and binding
   * it, as one could a port freePort chose). Without it every node gets a freePort port.
   */
  portZero?: boolean
}

/**
 * RegisteredCluster is a cluster created in etcd, its nodes registered and none of them started:
 * where a test of `node serve` itself begins (it starts, refuses, freezes and restarts the processes).
 */
export interface RegisteredCluster {
  /** name is the cluster's unique name (its etcd namespace); endpoint is etcd's. */
  name: string
  endpoint: string
  /** connection is the `--endpoints` and `--cluster` of a node process of this cluster, to spread into its options. */
  connection: {endpoint: string; cluster: string}
  ctx: ServiceContext
  /** ports are the ports the node records name, by node id (with `portZero`: what the test recorded once each node bound one). */
  ports: Record<string, number>
  /** shards are the cluster's shards as created. */
  shards: Shard[]
  /** alivePid is the pid that node `id`'s alive key names, undefined while there is no key. */
  alivePid(id: string): Promise<number | undefined>
  /** close closes the etcd store (the test kills its own processes). */
  close(): void
}

/** registerCluster creates a cluster laid out as `layout` on etcd at `endpoint`; `label` prefixes its unique name. */
export async function registerCluster(endpoint: string, label: string, layout: ClusterLayout): Promise<RegisteredCluster> {
  const stores = new StoreSet()
  const name = uniqueCluster(label)
  const ctx = makeServiceContext(stores.open(endpoint, name), {cluster: name})
  try {
    const ports: Record<string, number> = {}
    if (!layout.portZero) for (const id of layout.nodes) ports[id] = await freePort()
    const specs = layout.nodes.map((id, i) => `${id}=${layout.host ?? '127.0.0.1'}:${ports[id] ?? i + 1}${layout.zones ? `@${layout.zones[i]}` : ''}`)
    await initCluster(ctx, {shards: layout.shards, rf: layout.rf, nodes: parseNodeSpecs(specs.join(',')), force: false})
    const shards = (await ctx.store.listTyped(ctx.keys.shardsPrefix, ShardSchema)).items.map((i) => i.value)
    const alivePid = async (id: string) => {
      const kv = await ctx.store.get(ctx.keys.alive(id))
      return kv ? (JSON.parse(kv.value) as {pid: number}).pid : undefined
    }
    return {name, endpoint, connection: {endpoint, cluster: name}, ctx, ports, shards, alivePid, close: () => stores.closeAll()}
  } catch (err) {
    stores.closeAll()
    throw err
  }
}

/** TwoNodeCluster is a 2-shard, rf 2 cluster on two real node processes `n1` and `n2`, both replicas of `shard`. */
export interface TwoNodeCluster {
  ctx: ServiceContext
  /** shard is the cluster's first shard (both nodes hold it). */
  shard: Shard
  /** ports are the nodes' ports on 127.0.0.1; token is the cluster token (for raw requests). */
  ports: Record<'n1' | 'n2', number>
  token: string
  /** client opens a client to node `id` (of class `Kind`, a NodeClient subclass, when given); close destroys it. */
  client(id: 'n1' | 'n2', Kind?: typeof NodeClient): NodeClient
  /** close destroys the clients, kills the nodes, closes the store and removes the data dirs. */
  close(): Promise<void>
}

/** startTwoNodeCluster creates the cluster (`name` prefixes its etcd namespace and data dirs) on etcd at `endpoint` and starts both nodes. */
export async function startTwoNodeCluster(endpoint: string, name: string): Promise<TwoNodeCluster> {
  const registered = await registerCluster(endpoint, name, {shards: 2, rf: 2, nodes: ['n1', 'n2'], zones: ['a', 'b'], portZero: true})
  const {ctx, ports} = registered
  const procs: NodeProcess[] = []
  const clients: NodeClient[] = []
  const dirs: string[] = []
  const close = async () => {
    await Promise.all(clients.map((c) => c.destroy()))
    await Promise.all(procs.map((p) => p.kill()))
    registered.close()
    for (const d of dirs) rmSync(d, {recursive: true, force: true})
  }
  try {
    for (const id of ['n1', 'n2']) dirs.push(mkdtempSync(join(tmpdir(), `shardctl-${name}-${id}-`)))
    for (const [i, id] of ['n1', 'n2'].entries()) {
      // Port 0: the node's own ready line names the port it bound (and registered).
      const p = await startNodeProcess({...registered.connection, id, port: 0, dataDir: dirs[i]!})
      procs.push(p)
      ports[id] = boundPort(p)
    }
    const token = await loadClusterToken(ctx, {create: false})
    const client = (id: 'n1' | 'n2', Kind: typeof NodeClient = NodeClient) => {
      const c = new Kind({node: id, address: `127.0.0.1:${ports[id]}`, token, timeoutMs: 20_000})
      clients.push(c)
      return c
    }
    return {ctx, shard: registered.shards[0]!, ports: {n1: ports.n1!, n2: ports.n2!}, token, client, close}
  } catch (err) {
    await close()
    throw err
  }
}

/** boundPort is the port node process `p` listens on (from the address its ready line named). */
export function boundPort(p: NodeProcess): number {
  return Number(p.address.slice(p.address.lastIndexOf(':') + 1))
}
