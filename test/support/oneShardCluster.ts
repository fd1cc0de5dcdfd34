import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {MemoryStore} from '../../src/store/memoryStore.js'

/**
 * oneShardCluster makes a cluster of one shard at `rf` over nodes n1..n`nodes` (addresses
 * 127.0.0.1:1.. that the test replaces with its in-process nodes' ports) on the in-memory
 * store, with the cluster token `token`, and returns the store, its context and the shard.
 */
export async function oneShardCluster(cluster: string, rf: number, nodes: number, token: string) {
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster}, () => new Date())
  const specs = Array.from({length: nodes}, (_, i) => `n${i + 1}=127.0.0.1:${i + 1}`).join(',')
  await initCluster(ctx, {shards: 1, rf, nodes: parseNodeSpecs(specs), force: false})
  await store.put(ctx.keys.token, token)
  const shard = (await listShards(ctx)).shards[0]!.value
  return {store, ctx, shard}
}
