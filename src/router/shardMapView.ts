import {parseStoredJson} from '../model/zodIssues.js'
import {type z} from 'zod'
import {ShardMapFollower} from '../cluster/shardMapFollower.js'
import {FreshReads} from '../cluster/freshReads.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {lastSegment} from '../etcd/keys.js'
import {type ResumableWatch, type WatchEvent, watchPrefix} from '../etcd/resumableWatch.js'
import {AliveSchema, NodeSchema} from '../model/node.js'
import {RoutingTable} from './routingTable.js'
import {type ShardSource} from './coordinator.js'

/** ShardMapViewOptions: `onChange` runs (once per burst of events) after the map or a node address changed. */
export interface ShardMapViewOptions {
  onChange?: () => void
  /** onInvalid reports a value under shards/, nodes/ or alive/ that failed validation (it is ignored). */
  onInvalid?: (key: string, message: string) => void
}

/**
 * ShardMapView is the router's live copy of the shard map and of node addresses. The map is
 * the shared, monotonic {@link ShardMapFollower} (a resync never moves a shard backwards);
 * node addresses come from the leased `alive/<id>` a serving node publishes, falling back
 * to `nodes/<id>`, each seeded by a list and kept current by a resumable watch.
 *
 * {@link mapRevision} is the etcd revision up to which shard-map changes have been applied:
 * mapRevision >= R means every shard change committed at or before R is in the table, which
 * the executor's barrier compares with the revision of its shard-map transaction.
 *
 * {@link refresh} re-reads one shard out of band (after a node's STALE_EPOCH) and, when the
 * shard's range changed or it vanished (split/merge), re-reads the whole map.
 */
export class ShardMapView implements ShardSource {
  private readonly shards: ShardMapFollower
  private readonly nodeAddresses = new Map<string, string>()
  private readonly aliveAddresses = new Map<string, string>()
  private current = RoutingTable.of([])
  /** builtAt: the follower's version the cached table was built from. */
  private builtAt = -1
  private readonly watches: ResumableWatch[] = []
  /**
   * refreshes gives each refresh caller a run of refreshOnce started after it called, at most
   * one running and one queued per shard (FreshReads). A whole run is shared, its whole-map
   * re-read included: a caller whose request was routed before a split was folded in waits
   * for the re-read that brings in the other half, and a burst re-reads the map once (review17b).
   */
  private readonly refreshes = new FreshReads<number, void>((id) => this.refreshOnce(id))
  private notifyQueued = false
  private closed = false

  constructor(
    private readonly ctx: ServiceContext,
    private readonly opts: ShardMapViewOptions = {},
  ) {
    this.shards = new ShardMapFollower(ctx, {onChange: () => this.changed(), onInvalid: opts.onInvalid})
  }

  /** start reads the map and node addresses and starts the watches. Throws the store's errors (ETCD_UNREACHABLE, ...). */
  async start(): Promise<void> {
    await this.shards.start()
    const nodesRev = await this.loadAddresses(this.ctx.keys.nodesPrefix, NodeSchema, this.nodeAddresses)
    const aliveRev = await this.loadAddresses(this.ctx.keys.alivePrefix, AliveSchema, this.aliveAddresses)
    this.watches.push(
      watchPrefix(this.ctx.store, this.ctx.keys.nodesPrefix, {
        fromRevision: nodesRev,
        onEvent: (ev) => this.onAddressEvent(ev, NodeSchema, this.nodeAddresses),
        resync: () => this.loadAddresses(this.ctx.keys.nodesPrefix, NodeSchema, this.nodeAddresses),
      }),
      watchPrefix(this.ctx.store, this.ctx.keys.alivePrefix, {
        fromRevision: aliveRev,
        onEvent: (ev) => this.onAddressEvent(ev, AliveSchema, this.aliveAddresses),
        resync: () => this.loadAddresses(this.ctx.keys.alivePrefix, AliveSchema, this.aliveAddresses),
      }),
    )
  }

  /** table returns the current routing snapshot. */
  table(): RoutingTable {
    // Keyed on the follower's version (bumped synchronously), so a refresh's result is routed
    // with as soon as it resolves, not only after the coalesced onChange ran.
    if (this.builtAt !== this.shards.version()) {
      this.builtAt = this.shards.version()
      this.current = RoutingTable.of(this.shards.all())
    }
    return this.current
  }

  /** address returns where node `id` serves (its live registration first), or undefined when unknown. */
  address(id: string): string | undefined {
    return this.aliveAddresses.get(id) ?? this.nodeAddresses.get(id)
  }

  /** mapRevision is the etcd revision up to which shard-map changes are applied (see the class doc). */
  mapRevision(): bigint {
    return this.shards.mapRevision()
  }

  /**
   * resync re-reads every shard at one revision, folds it in (never moving a shard
   * backwards) and returns that revision. Used after a lapsed lease and when a refresh finds
   * a shard's range changed. Throws the store's errors.
   */
  resync(): Promise<bigint> {
    return this.shards.resync()
  }

  /** refresh re-reads shard `id` (a run started after this call, see {@link refreshes}); see the class doc. Rejects when etcd cannot be read. */
  refresh(id: number): Promise<void> {
    return this.refreshes.get(id)
  }

  /** close stops the watches. */
  async close(): Promise<void> {
    this.closed = true
    await Promise.all([this.shards.stop(), ...this.watches.splice(0).map((w) => w.close())])
  }

  /** refreshOnce re-reads shard `id` and, when its range changed or it appeared or vanished (a split), the whole map. */
  private async refreshOnce(id: number): Promise<void> {
    const before = this.shards.get(id)
    const after = await this.shards.refresh(id)
    if (!before || !after || before.range.lo !== after.range.lo || before.range.hi !== after.range.hi) await this.resync()
  }

  private async loadAddresses(prefix: string, schema: typeof NodeSchema | typeof AliveSchema, into: Map<string, string>): Promise<bigint> {
    const {items, revision} = await this.ctx.store.list(prefix)
    into.clear()
    for (const kv of items) {
      const v = this.parse(kv.key, kv.value, schema)
      if (v) into.set(lastSegment(kv.key), v.address)
    }
    this.changed()
    return revision
  }

  private onAddressEvent(ev: WatchEvent, schema: typeof NodeSchema | typeof AliveSchema, into: Map<string, string>): void {
    const id = lastSegment(ev.key)
    if (ev.type === 'delete') into.delete(id)
    else {
      const v = this.parse(ev.key, ev.value, schema)
      if (v) into.set(id, v.address)
    }
    this.changed()
  }

  private parse<S extends z.ZodType>(key: string, value: string, schema: S): z.output<S> | undefined {
    return parseStoredJson(key, value, schema, this.opts.onInvalid)
  }


  private changed(): void {
    if (this.notifyQueued || this.closed) return
    this.notifyQueued = true
    queueMicrotask(() => {
      this.notifyQueued = false
      if (!this.closed) this.opts.onChange?.()
    })
  }
}
