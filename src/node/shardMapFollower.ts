import {type ServiceContext} from '../cluster/serviceContext.js'
import {decodeStored} from '../etcd/etcdStore.js'
import {type ResumableWatch, watchPrefix} from '../etcd/resumableWatch.js'
import {lastSegment} from '../etcd/keys.js'
import {type ReplicaRole, type Shard, ShardSchema} from '../model/shard.js'

/** HeldShard is a shard this node is listed in, with its role. */
export interface HeldShard {
  shard: Shard
  role: ReplicaRole
}

/** ShardView is what the node's HTTP API needs of the shard map (ShardMapFollower; a fake in unit tests). */
export interface ShardView {
  get(id: number): Shard | undefined
  refresh(id: number): Promise<Shard | undefined>
  roleOf(shard: Shard): ReplicaRole | undefined
  held(): HeldShard[]
  all(): Shard[]
  mapRevision(): bigint
}

/**
 * ShardMapFollower is a node's view of the shard map: seeded by one listing, then kept
 * current by a resumable watch from that listing's revision. A shard's entry only ever
 * moves to a newer epoch, whichever of the watch or a direct {@link refresh} saw it first.
 * Corrupt values are skipped (and reported to `onProblem`), never served.
 */
export class ShardMapFollower implements ShardView {
  private readonly shards = new Map<number, Shard>()
  private watch?: ResumableWatch
  private revision = 0n
  private readonly refreshing = new Map<number, Promise<Shard | undefined>>()
  private stopped = false

  constructor(
    private readonly ctx: ServiceContext,
    private readonly nodeId: string,
    private readonly onProblem: (message: string) => void = () => {},
  ) {}

  /** start lists the shard map and watches it; calling it again (after a lost lease) re-lists and restarts the watch. Throws etcd UserErrors. */
  async start(): Promise<void> {
    await this.watch?.close()
    this.watch = undefined
    const revision = await this.seed()
    if (this.stopped) return
    this.watch = watchPrefix(this.ctx.store, this.ctx.keys.shardsPrefix, {
      fromRevision: revision,
      onEvent: (ev) => {
        const id = Number(lastSegment(ev.key))
        if (!Number.isInteger(id)) return
        if (ev.type === 'delete') {
          this.shards.delete(id)
          return
        }
        try {
          this.offer(decodeStored({key: ev.key, value: ev.value, modRevision: ev.modRevision, createRevision: 0n, lease: '0'}, ShardSchema).value)
        } catch (err) {
          this.onProblem((err as Error).message)
        }
        this.revision = ev.modRevision
      },
      resync: () => this.seed(),
    })
  }

  private async seed(): Promise<bigint> {
    const {items, revision} = await this.ctx.store.list(this.ctx.keys.shardsPrefix)
    const next = new Map<number, Shard>()
    for (const kv of items) {
      try {
        const s = decodeStored(kv, ShardSchema).value
        next.set(s.id, s)
      } catch (err) {
        this.onProblem((err as Error).message)
      }
    }
    // A listing is a consistent snapshot: it replaces the view (shards deleted meanwhile disappear).
    this.shards.clear()
    for (const [id, s] of next) this.shards.set(id, s)
    this.revision = revision
    return revision
  }

  private offer(s: Shard): void {
    const cur = this.shards.get(s.id)
    if (!cur || s.epoch >= cur.epoch) this.shards.set(s.id, s)
  }

  /** get returns the shard as this node last saw it. */
  get(id: number): Shard | undefined {
    return this.shards.get(id)
  }

  /**
   * refresh re-reads shard `id` from etcd (linearizable), folds it in and returns the
   * newest known version; undefined when etcd has no such shard. Concurrent refreshes of
   * one shard share one read. Throws etcd UserErrors (ETCD_UNREACHABLE, CORRUPT_VALUE).
   */
  refresh(id: number): Promise<Shard | undefined> {
    let p = this.refreshing.get(id)
    if (!p) {
      p = (async () => {
        try {
          const got = await this.ctx.store.getTyped(this.ctx.keys.shard(id), ShardSchema)
          if (got) this.offer(got.value)
          else this.shards.delete(id)
          return this.shards.get(id)
        } finally {
          this.refreshing.delete(id)
        }
      })()
      this.refreshing.set(id, p)
    }
    return p
  }

  /** roleOf is this node's role in `shard`, or undefined when it is not listed. */
  roleOf(shard: Shard): ReplicaRole | undefined {
    return shard.replicas.find((r) => r.node === this.nodeId)?.role
  }

  /** held lists the shards this node is listed in, in id order. */
  held(): HeldShard[] {
    const out: HeldShard[] = []
    for (const s of [...this.shards.values()].sort((a, b) => a.id - b.id)) {
      const role = this.roleOf(s)
      if (role) out.push({shard: s, role})
    }
    return out
  }

  /** all returns every known shard. */
  all(): Shard[] {
    return [...this.shards.values()]
  }

  /** mapRevision is the etcd revision the view reflects (at least). */
  mapRevision(): bigint {
    const w = this.watch?.lastRevision() ?? 0n
    return w > this.revision ? w : this.revision
  }

  /** stop ends the watch. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true
    await this.watch?.close()
    this.watch = undefined
  }
}
