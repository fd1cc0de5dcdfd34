import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {inject} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {loadClusterToken} from '../../../src/node/clusterToken.js'
import {NodeClient} from '../../../src/node/nodeClient.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'
import {type RouterProcess, startRouterProcess} from '../router/routerProcess.js'
import {type NodeProcess, startNodeProcess} from './nodeProcess.js'
import {isRefusal, mountTmpfs, type TmpfsDisk} from './tmpfsDisk.js'

/**
 * TmpfsPair is a two-node cluster for full-disk tests: shard 0 (rf 1) on `src`, and `dst` to
 * move it to; the node named by {@link startTmpfsPair}'s `onDisk` has its data dir on a
 * 24 MiB tmpfs (`disk`), the other on the ordinary temp dir. Real etcd and node processes.
 */
export interface TmpfsPair {
  ctx: ServiceContext
  src: string
  dst: string
  disk: TmpfsDisk
  client(id: string): NodeClient
  proc(id: string): NodeProcess
  /** router starts a router process (stopped by close). */
  router(): Promise<RouterProcess>
  /** close stops every process and client, then unmounts the tmpfs. */
  close(): Promise<void>
}

/** startTmpfsPair starts a {@link TmpfsPair} (`label` names its cluster and dirs); `fullExtra` are `node serve` flags of the node on the tmpfs. Throws when the tmpfs cannot be mounted (probe with mountTmpfs first to skip). */
export async function startTmpfsPair(label: string, onDisk: 'src' | 'dst', fullExtra: readonly string[]): Promise<TmpfsPair> {
  const disk = mountTmpfs(label, 24)
  if (isRefusal(disk)) throw new Error(disk.refused)
  const stores = new StoreSet()
  const procs: Record<string, NodeProcess> = {}
  const routers: RouterProcess[] = []
  const clients: NodeClient[] = []
  const dir = mkdtempSync(join(tmpdir(), `shardctl-${label}-`))
  const close = async () => {
    try {
      for (const c of clients) await c.destroy()
      await Promise.all([...Object.values(procs), ...routers].map((p) => p.kill()))
      stores.closeAll()
      rmSync(dir, {recursive: true, force: true})
    } finally {
      disk.unmount()
    }
  }
  try {
    const endpoint = inject('etcdEndpoint')
    const cluster = uniqueCluster(label)
    const ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
    // Placeholder ports in the records (nothing listens on 1, 2): the nodes start on port 0 and register the port they bound,
    // so no other test's process can take a node's port between choosing and binding it.
    await initCluster(ctx, {shards: 1, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:1,n2=127.0.0.1:2'), force: false})
    const src = (await listShards(ctx)).shards[0]!.value.replicas[0]!.node
    const dst = src === 'n1' ? 'n2' : 'n1'
    const full = onDisk === 'src' ? src : dst
    for (const id of [src, dst]) {
      procs[id] = await startNodeProcess({endpoint, cluster, id, port: 0, dataDir: id === full ? disk.dataDir : join(dir, id), extra: id === full ? [...fullExtra] : []})
    }
    const token = await loadClusterToken(ctx, {create: false})
    const client = (id: string) => {
      const c = new NodeClient({node: id, address: procs[id]!.address, token, timeoutMs: 10_000})
      clients.push(c)
      return c
    }
    const router = async () => {
      const r = await startRouterProcess({endpoint, cluster, id: 'r1'})
      routers.push(r)
      return r
    }
    return {ctx, src, dst, disk, client, proc: (id) => procs[id]!, router, close}
  } catch (err) {
    await close()
    throw err
  }
}
