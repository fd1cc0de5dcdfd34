import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {type ServiceContext} from '../../src/cluster/serviceContext.js'
import {awaitBarrier} from '../../src/executor/barrier.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEnv} from '../../src/executor/executorEnv.js'
import {freePort} from '../../src/localEtcd/freePort.js'
import {keyHash} from '../../src/model/hash.js'
import {type Replica, type Shard} from '../../src/model/shard.js'
import {loadClusterToken} from '../../src/node/clusterToken.js'
import {NodeClient} from '../../src/node/nodeClient.js'
import {type NodeLog} from '../../src/node/nodeLog.js'
import {StorageNode, type StorageNodeOptions} from '../../src/node/storageNode.js'

/** PairNode names the two nodes of a StorageNodePair. */
export type PairNode = 'n1' | 'n2'

/** StorageNodePairOptions: the contexts the pair runs on, its data dirs' prefix and its clients' timeout. */
export interface StorageNodePairOptions {
  /** ctx is the test's own (the executor's) context: the cluster is initialised and the shard committed through it. */
  ctx: ServiceContext
  /** nodeCtx gives each node started a context of its own (its own store client, as a process of its own). */
  nodeCtx: () => ServiceContext
  dirPrefix: string
  clientTimeoutMs: number
}

/**
 * StorageNodePair is a 2-node cluster of one shard at rf 1 (n1 its voter), moving from n1 to n2,
 * with in-process StorageNodes (real HTTP, SQLite, lease and shard-map watch) and the
 * executor's steps as plain functions.
 */
export interface StorageNodePair {
  ctx: ServiceContext
  ports: Record<PairNode, number>
  token: string
  /** first is the shard as initialised. */
  first: Shard
  /** start runs node `id` (its data dir kept across restarts for the pair's life). */
  start(id: PairNode): Promise<StorageNode>
  n1: NodeClient
  n2: NodeClient
  /** commit writes the shard at the next epoch with `replicas` (the executor's phase commit) and returns it with the commit's revision. */
  commit(replicas: Replica[]): Promise<{shard: Shard; revision: bigint}>
  /** step commits a phase and passes its barrier (the executor's awaitBarrier over the node clients); returns the shard and whether n1 was alive when it passed. */
  step(replicas: Replica[]): Promise<{shard: Shard; n1Alive: boolean}>
}

const quiet: NodeLog = {info: () => {}, warn: () => {}, error: () => {}}

/**
 * useStorageNodePairs registers the afterEach that stops every node, closes every client and
 * removes every data dir the test's pairs made, and returns what makes a pair: what
 * test/integration/node's in-process move tests (aliveDeleted, leaseRejoinBarrier) each wrote out.
 */
export function useStorageNodePairs(): (opts: StorageNodePairOptions) => Promise<StorageNodePair> {
  const dirs: string[] = []
  const nodes: StorageNode[] = []
  const clients: NodeClient[] = []
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop('test').catch(() => {})))
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})))
    for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
  })
  const newDir = (prefix: string): string => {
    const d = mkdtempSync(join(tmpdir(), prefix))
    dirs.push(d)
    return d
  }
  return async ({ctx, nodeCtx, dirPrefix, clientTimeoutMs}) => {
    const ports = {n1: await freePort(), n2: await freePort()}
    await initCluster(ctx, {shards: 1, rf: 1, nodes: parseNodeSpecs(`n1=127.0.0.1:${ports.n1},n2=127.0.0.1:${ports.n2}`), force: false})
    const first = (await listShards(ctx)).shards[0]!.value
    const dataDirs = {n1: newDir(dirPrefix), n2: newDir(dirPrefix)}
    const options = (id: PairNode): StorageNodeOptions => ({id, listenHost: '127.0.0.1', listenPort: ports[id], dataDir: dataDirs[id], statsIntervalMs: 60_000, leaseTtlSeconds: 5, tombstoneGraceMs: 60_000, shutdownTimeoutMs: 1000, synchronous: 'NORMAL', log: quiet})
    const start = async (id: PairNode): Promise<StorageNode> => {
      const node = await StorageNode.start(nodeCtx(), options(id))
      nodes.push(node)
      return node
    }
    const token = await loadClusterToken(ctx)
    const client = (id: PairNode) => {
      const c = new NodeClient({node: id, address: `127.0.0.1:${ports[id]}`, token, timeoutMs: clientTimeoutMs})
      clients.push(c)
      return c
    }
    const n1 = client('n1')
    const n2 = client('n2')
    const commit = async (replicas: Replica[]): Promise<{shard: Shard; revision: bigint}> => {
      const cur = (await listShards(ctx)).shards[0]!
      const shard: Shard = {...cur.value, epoch: cur.value.epoch + 1, replicas}
      const revision = await ctx.store.update(ctx.keys.shard(shard.id), JSON.stringify(shard), cur.modRevision)
      return {shard, revision}
    }
    // The executor's barrier, as it runs it (nodes asked over their clients, alive/ and routers/ read from the store).
    const env = {ctx, client: async (id: string) => (id === 'n1' ? n1 : n2), options: {...DEFAULT_EXECUTOR_OPTIONS, barrierTimeoutMs: 10_000}, now: Date.now, sleep: (ms: number) => new Promise((r) => setTimeout(r, ms)), stopped: () => false} as unknown as ExecutorEnv
    const step = async (replicas: Replica[]): Promise<{shard: Shard; n1Alive: boolean}> => {
      const {shard, revision} = await commit(replicas)
      await awaitBarrier(env, shard, revision, ['n1', 'n2'])
      return {shard, n1Alive: (await ctx.store.get(ctx.keys.alive('n1'))) !== undefined}
    }
    return {ctx, ports, token, first, start, n1, n2, commit, step}
  }
}

/** keyInShard is the first key `<prefix>-<i>` whose hash falls in `shard`'s range. */
export function keyInShard(shard: Shard, prefix: string): Buffer {
  for (let i = 0; ; i++) {
    const key = Buffer.from(`${prefix}-${i}`)
    const h = keyHash(key)
    if (h >= shard.range.lo && h < shard.range.hi) return key
  }
}
