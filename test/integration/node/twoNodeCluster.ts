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
  const stores = new StoreSet()
  const procs: NodeProcess[] = []
  const clients: NodeClient[] = []
  const dirs: string[] = []
  const ports: Record<string, number> = {}
  const cluster = uniqueCluster(name)
  const ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
  const close = async () => {
    await Promise.all(clients.map((c) => c.destroy()))
    await Promise.all(procs.map((p) => p.kill()))
    stores.closeAll()
    for (const d of dirs) rmSync(d, {recursive: true, force: true})
  }
  try {
    for (const id of ['n1', 'n2']) {
      ports[id] = await freePort()
      dirs.push(mkdtempSync(join(tmpdir(), `shardctl-${name}-${id}-`)))
    }
    await initCluster(ctx, {shards: 2, rf: 2, nodes: parseNodeSpecs(`n1=127.0.0.1:${ports.n1}@a,n2=127.0.0.1:${ports.n2}@b`), force: false})
    const shard = (await ctx.store.listTyped(ctx.keys.shardsPrefix, ShardSchema)).items.map((i) => i.value)[0]!
    for (const [i, id] of ['n1', 'n2'].entries()) procs.push(await startNodeProcess({endpoint, cluster, id, port: ports[id]!, dataDir: dirs[i]!}))
    const token = await loadClusterToken(ctx, {create: false})
    const client = (id: 'n1' | 'n2', Kind: typeof NodeClient = NodeClient) => {
      const c = new Kind({node: id, address: `127.0.0.1:${ports[id]}`, token, timeoutMs: 20_000})
      clients.push(c)
      return c
    }
    return {ctx, shard, ports: {n1: ports.n1!, n2: ports.n2!}, token, client, close}
  } catch (err) {
    await close()
    throw err
  }
}
