import {type z} from 'zod'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {lastSegment} from '../etcd/keys.js'
import {type ResumableWatch, type WatchEvent, watchPrefix} from '../etcd/resumableWatch.js'
import {AliveSchema, NodeSchema} from '../model/node.js'
import {type Shard, ShardSchema} from '../model/shard.js'
import {RoutingTable} from './routingTable.js'
import {type ShardSource} from './coordinator.js'

interface Entry {
  shard: Shard
  modRevision: bigint
}

/** ShardMapViewOptions: `onChange` runs (once per burst of events) after the map or a node address changed. */
export interface ShardMapViewOptions {
  onChange?: () => void
  /** onInvalid reports a value under shards/, nodes/ or alive/ that failed validation (it is ignored). */
  onInvalid?: (key: string, message: string) => void
}

/**
 * ShardMapView is the router's live copy of the shard map and of node addresses: seeded by
 * a list at revision R, then kept current by watches from R (resumable; a compacted resume
 * revision triggers a full re-read). Node addresses come from the leased `alive/<id>` a
 * serving node publishes, falling back to `nodes/<id>`.
 *
 * {@link mapRevision} is the etcd revision up to which shard-map changes have been applied
 * (the seed list's revision, then each shard event's). Events are applied in revision
 * order, so mapRevision >= R means every shard change committed at or before R is in the
 * table: the executor's barrier compares it with the revision of its shard-map transaction.
 *
 * {@link refresh} re-reads one shard out of band (after a node's STALE_EPOCH): it never
 * moves a shard backwards (entries carry their mod revision) and, when the shard's range
 * changed or it vanished (split/merge), re-reads the whole map.
 */
export class ShardMapView implements ShardSource {
  private readonly shardEntries = new Map<number, Entry>()
  private readonly nodeAddresses = new Map<string, string>()
  private readonly aliveAddresses = new Map<string, string>()
  private current = RoutingTable.of([])
  private dirty = false
  private applied = 0n
  /** floor: shard events at or below it are already reflected by a full read. */
  private floor = 0n
  private readonly watches: ResumableWatch[] = []
  private readonly inflightRefresh = new Map<number, Promise<void>>()
  private notifyQueued = false
  private closed = false

  constructor(
    private readonly ctx: ServiceContext,
    private readonly opts: ShardMapViewOptions = {},
  ) {}

  /** start reads the map and node addresses and starts the watches. Throws the store's errors (ETCD_UNREACHABLE, ...). */
  async start(): Promise<void> {
    const shardsRev = await this.resync()
    const nodesRev = await this.loadAddresses(this.ctx.keys.nodesPrefix, NodeSchema, this.nodeAddresses)
    const aliveRev = await this.loadAddresses(this.ctx.keys.alivePrefix, AliveSchema, this.aliveAddresses)
    this.watches.push(
      watchPrefix(this.ctx.store, this.ctx.keys.shardsPrefix, {fromRevision: shardsRev, onEvent: (ev) => this.onShardEvent(ev), resync: () => this.resync()}),
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
    if (this.dirty) {
      this.current = RoutingTable.of([...this.shardEntries.values()].map((e) => e.shard))
      this.dirty = false
    }
    return this.current
  }

  /** address returns where node `id` serves (its live registration first), or undefined when unknown. */
  address(id: string): string | undefined {
    return this.aliveAddresses.get(id) ?? this.nodeAddresses.get(id)
  }

  /** mapRevision is the etcd revision up to which shard-map changes are applied (see the class doc). */
  mapRevision(): bigint {
    return this.applied
  }

  /**
   * resync re-reads every shard at one revision, replaces the table with it and returns
   * that revision. Used at start, when a watch lost events, after a lapsed lease and when a
   * refresh finds a shard's range changed.
   */
  async resync(): Promise<bigint> {
    const {items, revision} = await this.ctx.store.list(this.ctx.keys.shardsPrefix)
    const next = new Map<number, Entry>()
    for (const kv of items) {
      const shard = this.parse(kv.key, kv.value, ShardSchema)
      if (shard) next.set(shard.id, {shard, modRevision: kv.modRevision})
    }
    if (revision > this.floor) {
      this.shardEntries.clear()
      for (const [id, e] of next) this.shardEntries.set(id, e)
      this.floor = revision
      if (revision > this.applied) this.applied = revision
      this.changed()
    }
    return revision
  }

  /** refresh re-reads shard `id` (single flight per shard); see the class doc. Rejects when etcd cannot be read. */
  refresh(id: number): Promise<void> {
    const existing = this.inflightRefresh.get(id)
    if (existing) return existing
    const p = this.refreshOnce(id).finally(() => this.inflightRefresh.delete(id))
    this.inflightRefresh.set(id, p)
    return p
  }

  /** close stops the watches. */
  async close(): Promise<void> {
    this.closed = true
    await Promise.all(this.watches.splice(0).map((w) => w.close()))
  }

  private async refreshOnce(id: number): Promise<void> {
    const kv = await this.ctx.store.get(this.ctx.keys.shard(id))
    const before = this.shardEntries.get(id)
    const shard = kv ? this.parse(kv.key, kv.value, ShardSchema) : undefined
    if (!kv || !shard || !before || before.shard.range.lo !== shard.range.lo || before.shard.range.hi !== shard.range.hi) {
      await this.resync()
      return
    }
    if (kv.modRevision > before.modRevision) {
      this.shardEntries.set(id, {shard, modRevision: kv.modRevision})
      this.changed()
    }
  }

  private onShardEvent(ev: WatchEvent): void {
    if (ev.modRevision <= this.floor) return
    const id = Number.parseInt(lastSegment(ev.key), 10)
    if (ev.type === 'delete') {
      this.shardEntries.delete(id)
      this.changed()
    } else {
      const shard = this.parse(ev.key, ev.value, ShardSchema)
      const before = this.shardEntries.get(id)
      if (shard && (!before || ev.modRevision > before.modRevision)) {
        this.shardEntries.set(shard.id, {shard, modRevision: ev.modRevision})
        this.changed()
      }
    }
    if (ev.modRevision > this.applied) this.applied = ev.modRevision
    this.changed()
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
    let json: unknown
    try {
      json = JSON.parse(value)
    } catch {
      this.opts.onInvalid?.(key, 'not JSON')
      return undefined
    }
    const r = schema.safeParse(json)
    if (!r.success) {
      this.opts.onInvalid?.(key, r.error.issues[0]?.message ?? 'invalid')
      return undefined
    }
    return r.data
  }

  private changed(): void {
    this.dirty = true
    if (this.notifyQueued || this.closed) return
    this.notifyQueued = true
    queueMicrotask(() => {
      this.notifyQueued = false
      if (!this.closed) this.opts.onChange?.()
    })
  }
}
