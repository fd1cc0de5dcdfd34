import {HASH_SPACE} from '../../src/model/hash.js'
import {type ReplicaRole, type Shard} from '../../src/model/shard.js'
import {type NodeClient} from '../../src/node/nodeClient.js'
import {type HeldShard, type ShardView} from '../../src/node/shardMapFollower.js'

/**
 * CopyShardMap is one node's view of the shard node-to-node copy tests move: shard 1, the
 * whole hash space, epoch 5, `src` its voter and `dst` joining. Tests edit `shard` to
 * change epoch or roles; there is no etcd, so refresh returns the same.
 */
export class CopyShardMap implements ShardView {
  shard: Shard = {id: 1, range: {lo: 0, hi: HASH_SPACE}, epoch: 5, replicas: [{node: 'src', role: 'voter'}, {node: 'dst', role: 'joining'}]}
  constructor(private readonly self: string) {}
  get(id: number) {
    return id === 1 ? this.shard : undefined
  }
  async refresh(id: number) {
    return this.get(id)
  }
  roleOf(shard: Shard): ReplicaRole | undefined {
    return shard.replicas.find((r) => r.node === this.self)?.role
  }
  held(): HeldShard[] {
    const role = this.roleOf(this.shard)
    return role ? [{shard: this.shard, role}] : []
  }
  all() {
    return [this.shard]
  }
  mapRevision() {
    return 1n
  }
}

/** settledPull polls the destination `c`'s pull of shard 1 until it is no longer running and returns its status; throws after 10 s. */
export async function settledPull(c: NodeClient): Promise<Awaited<ReturnType<NodeClient['pullStatus']>>> {
  for (let i = 0; i < 1000; i++) {
    const s = await c.pullStatus(1)
    if (s.state !== 'running') return s
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error('copy did not settle in 10 s')
}
