import {type ReplicaRole, type Shard} from '../../src/model/shard.js'
import {type HeldShard, type ShardView} from '../../src/node/shardMapFollower.js'

/**
 * StaticShardMap is node `self`'s view of a shard map with no etcd behind it: `shards` as
 * given (tests may replace entries), refresh returns the same.
 */
export class StaticShardMap implements ShardView {
  constructor(
    private readonly self: string,
    public shards: Shard[],
  ) {}
  get(id: number) {
    return this.shards.find((s) => s.id === id)
  }
  async refresh(id: number) {
    return this.get(id)
  }
  roleOf(shard: Shard): ReplicaRole | undefined {
    return shard.replicas.find((r) => r.node === this.self)?.role
  }
  held(): HeldShard[] {
    return this.shards.flatMap((shard) => {
      const role = this.roleOf(shard)
      return role ? [{shard, role}] : []
    })
  }
  all() {
    return [...this.shards]
  }
  mapRevision() {
    return 1n
  }
}
