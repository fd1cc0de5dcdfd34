import {Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {renderTable} from '../../src/cli/table.js'
import {initCluster, type InitClusterResult} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {UserError} from '../../src/errors/errors.js'
import {initRedisCluster} from '../../src/redis/initRedisCluster.js'
import {DEFAULT_SLOTS_PER_SHARD} from '../../src/redis/redisLayout.js'

export default class ClusterInit extends EtcdCommand {
  static override summary = 'Create a cluster: meta, nodes and the initial shard map.'
  static override description = 'Cuts the hash space into --shards contiguous ranges and places --rf replicas of each with a consistent-hash ring (never two on one node, zones spread). Refuses to overwrite an existing cluster unless --force; --force refuses, changing nothing, while an executor holds the lock (exit 8) or a router is registered (exit 1: a running router would keep serving in the new cluster; stop the routers first). With --engine redis it records an existing Redis Cluster (or Valkey) found through --seed instead: its masters become nodes and its slots shards of at most --slots-per-shard contiguous slots.'
  static override examples = [
    '<%= config.bin %> cluster init --shards 64 --rf 3 --nodes n1=127.0.0.1:7001@a,n2=127.0.0.1:7002@b,n3=127.0.0.1:7003@c',
    '<%= config.bin %> cluster init --cluster staging --shards 16 --rf 1 --nodes n1=127.0.0.1:7001 --force --json',
    '<%= config.bin %> cluster init --cluster cache --engine redis --seed 127.0.0.1:7000',
  ]
  static override flags = {
    engine: Flags.string({description: 'data plane: kv (shardctl nodes) or redis (an existing Redis Cluster / Valkey)', options: ['kv', 'redis'], default: 'kv'}),
    shards: Flags.integer({description: 'number of shards (kv engine; required there)', min: 1, max: 2 ** 20}),
    rf: Flags.integer({description: 'replication factor (kv engine)', default: 3, min: 1, max: 7}),
    nodes: Flags.string({description: 'nodes as id=host:port[@zone], comma-separated (kv engine; required there)'}),
    seed: Flags.string({description: 'host:port of one node of the Redis Cluster (redis engine; required there)'}),
    'slots-per-shard': Flags.integer({description: 'redis engine: cut each master\'s slots into shards of at most this many contiguous slots', default: DEFAULT_SLOTS_PER_SHARD, min: 1, max: 16384}),
    force: Flags.boolean({description: 'delete an existing cluster of this name first'}),
  }

  async run(): Promise<InitClusterResult> {
    const {flags} = await this.parse(ClusterInit)
    let result: InitClusterResult
    if (flags.engine === 'redis') {
      if (flags.seed === undefined) throw new UserError('BAD_INPUT', '--engine redis needs --seed HOST:PORT', 'e.g. shardctl cluster init --engine redis --seed 127.0.0.1:7000')
      if (flags.nodes !== undefined || flags.shards !== undefined) throw new UserError('BAD_INPUT', '--engine redis discovers nodes and shards: drop --nodes and --shards', 'use --slots-per-shard to choose how finely slots are cut into shards')
      const ctx = await this.services(flags)
      result = await initRedisCluster(ctx, {seed: flags.seed, slotsPerShard: flags['slots-per-shard'], force: flags.force})
    } else {
      if (flags.shards === undefined || flags.nodes === undefined) throw new UserError('BAD_INPUT', 'cluster init needs --shards and --nodes', 'e.g. shardctl cluster init --shards 64 --rf 3 --nodes n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003')
      if (flags.seed !== undefined) throw new UserError('BAD_INPUT', '--seed is for --engine redis', 'add --engine redis, or drop --seed')
      const nodes = parseNodeSpecs(flags.nodes)
      const ctx = await this.services(flags)
      result = await initCluster(ctx, {shards: flags.shards, rf: flags.rf, nodes, force: flags.force})
    }
    this.log(`${result.replaced ? 'Re-created' : 'Created'} cluster "${result.cluster}"${flags.engine === 'redis' ? ' (engine redis)' : ''}: ${result.shards} shards, rf ${result.rf}, ${result.nodes.length} nodes`)
    this.log(renderTable(['NODE', 'ADDRESS', 'ZONE', 'REPLICAS'], result.nodes.map((n) => [n.id, n.address, n.zone, n.replicas]), [3]))
    return result
  }
}
