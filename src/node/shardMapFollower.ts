import {ShardMapFollower} from '../cluster/shardMapFollower.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {type ReplicaRole, type Shard} from '../model/shard.js'

/** HeldShard is a shard this node is listed in, with its role. */
export interface HeldShard {
  shard: Shard
  role: ReplicaRole
}

/** ShardView is what the node's HTTP API needs of the shard map (NodeShardView; a fake in unit tests). */
export interface ShardView {
  get(id: number): Shard | undefined
  refresh(id: number): Promise<Shard | undefined>
  roleOf(shard: Shard): ReplicaRole | undefined
  held(): HeldShard[]
  all(): Shard[]
  mapRevision(): bigint
}

/**
 * NodeShardView is a node's view of the shard map: the shared, monotonic
 * {@link ShardMapFollower} plus this node's roles in it. Corrupt values are skipped (and
 * reported to `onProblem`), never served.
 */
export class NodeShardView implements ShardView {
  private readonly follower: ShardMapFollower
  /** heldAt is the last {@link held} list and the follower version it was made at. */
  private heldAt?: {version: number; list: HeldShard[]}

  /** `onChange` runs once per burst of shard-map changes (any shard's: see {@link held} for this node's). */
  constructor(
    ctx: ServiceContext,
    private readonly nodeId: string,
    onProblem: (message: string) => void = () => {},
    onChange: () => void = () => {},
  ) {
    this.follower = new ShardMapFollower(ctx, {onInvalid: (key, message) => onProblem(`${key}: ${message}`), onChange})
  }

  /** start lists the shard map and watches it; calling it again (after a lost lease) re-lists and restarts the watch. Throws etcd UserErrors. */
  start(): Promise<void> {
    return this.follower.start()
  }

  /** get returns the shard as this node last saw it. */
  get(id: number): Shard | undefined {
    return this.follower.get(id)
  }

  /** refresh re-reads shard `id` from etcd and returns the newest known version (see ShardMapFollower.refresh). */
  refresh(id: number): Promise<Shard | undefined> {
    return this.follower.refresh(id)
  }

  /** roleOf is this node's role in `shard`, or undefined when it is not listed. */
  roleOf(shard: Shard): ReplicaRole | undefined {
    return shard.replicas.find((r) => r.node === this.nodeId)?.role
  }

  /** held lists the shards this node is listed in, in id order (a fresh array: the caller may change it). */
  held(): HeldShard[] {
    // Walking the whole map costs about 0.1 s at 100k shards, and the node asks on every
    // stats publish and /stats scrape: the list is kept while the map is unchanged (the
    // follower's version counts every change folded in, synchronously).
    const version = this.follower.version()
    if (this.heldAt?.version !== version) this.heldAt = {version, list: this.listHeld()}
    return this.heldAt.list.slice()
  }

  private listHeld(): HeldShard[] {
    // Filter, then sort: a node holds about rf/nodes of the map (25k of 100k shards at rf 3 on 12).
    const out: HeldShard[] = []
    for (const s of this.follower.all()) {
      const role = this.roleOf(s)
      // Frozen: the entries are shared by every list handed out until the map changes.
      if (role) out.push(Object.freeze({shard: s, role}))
    }
    return out.sort((a, b) => a.shard.id - b.shard.id)
  }

  /** all returns every known shard. */
  all(): Shard[] {
    return this.follower.all()
  }

  /** mapRevision is the etcd revision up to which the view reflects every shard-map change. */
  mapRevision(): bigint {
    return this.follower.mapRevision()
  }

  /** stop ends the watch. Idempotent. */
  stop(): Promise<void> {
    return this.follower.stop()
  }
}
