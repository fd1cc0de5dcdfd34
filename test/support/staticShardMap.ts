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

/**
 * EditableShardMap is node `me`'s view of a shard map with an "etcd" behind it that tests
 * edit: `local` is what the node has applied, `etcd` what a refresh reads. A refresh copies
 * etcd's entry into `local` (and, with `forgetsRemoved`, drops the local one etcd no longer
 * has); until then the node serves from `local`, as a node whose follower lags.
 */
export class EditableShardMap implements ShardView {
  readonly local = new Map<number, Shard>()
  readonly etcd = new Map<number, Shard>()
  /** refreshes counts refresh calls (a test of the node re-reading its map asserts on it). */
  refreshes = 0
  /** etcdDown makes a refresh fail as it does when etcd is unreachable. */
  etcdDown = false

  constructor(private readonly opts: {forgetsRemoved?: boolean} = {}) {}

  get(id: number) {
    return this.local.get(id)
  }
  async refresh(id: number) {
    this.refreshes++
    if (this.etcdDown) throw new Error('etcd at http://127.0.0.1:1 is unreachable')
    const s = this.etcd.get(id)
    if (s) this.local.set(id, s)
    else if (this.opts.forgetsRemoved) this.local.delete(id)
    return this.local.get(id)
  }
  roleOf(shard: Shard): ReplicaRole | undefined {
    return shard.replicas.find((r) => r.node === 'me')?.role
  }
  held(): HeldShard[] {
    return [...this.local.values()].flatMap((shard) => {
      const role = this.roleOf(shard)
      return role ? [{shard, role}] : []
    })
  }
  all() {
    return [...this.local.values()]
  }
  mapRevision() {
    return 1n
  }
  /** set writes `s` to etcd and, unless the node `lagging` has not followed yet, to the node's map. */
  set(s: Shard, {lagging = false} = {}) {
    this.etcd.set(s.id, s)
    if (!lagging) this.local.set(s.id, s)
  }
}
