import {FreshReads} from './freshReads.js'
import {type ServiceContext} from './serviceContext.js'
import {lastSegment} from '../etcd/keys.js'
import {type ResumableWatch, type WatchEvent, type WatchStatus, watchPrefix} from '../etcd/resumableWatch.js'
import {UserError} from '../errors/errors.js'
import {ClusterMetaSchema} from '../model/cluster.js'
import {type Shard} from '../model/shard.js'
import {parseStoredJson} from '../model/zodIssues.js'
import {LIST_PAGE_SIZE} from '../store/store.js'
import {scanInParts} from '../store/splitListing.js'
import {isCompactedError} from '../store/storeBase.js'
import {ShardDecoder} from './shardDecoder.js'
import {type ShardEntry, ShardMapState} from './shardMapState.js'

/**
 * MAX_LISTINGS bounds how many times {@link ShardMapFollower.resync} lists the map when etcd
 * compacts each listing's revision away before it is done. Each listing is at a newer
 * revision, so only another compaction during it fails it again: three in a row means etcd
 * compacts faster than the map can be read, which more listings would not change.
 */
const MAX_LISTINGS = 3

/** MAX_LIST_PARTS bounds how many parts of the map a resync reads at once (each one page of LIST_PAGE_SIZE at most, about 3 MiB). */
const MAX_LIST_PARTS = 16

/**
 * shardSplitKeys cuts the keys of shards [0, nextShardId) into parts of about one page
 * each, at most {@link MAX_LIST_PARTS}; shard keys are zero-padded, so id order is key order.
 * The cuts only decide how a listing is divided: keys outside the range still land in the
 * first or last part.
 */
export function shardSplitKeys(shardKey: (id: number) => string, nextShardId: number): string[] {
  const parts = Math.min(MAX_LIST_PARTS, Math.ceil(nextShardId / LIST_PAGE_SIZE))
  const out: string[] = []
  for (let i = 1; i < parts; i++) out.push(shardKey(Math.floor((nextShardId * i) / parts)))
  return out
}

/** ShardMapFollowerOptions: callbacks of a {@link ShardMapFollower}; none may throw. */
export interface ShardMapFollowerOptions {
  /** onChange runs once per burst of changes (coalesced to a microtask) after a shard entry changed. */
  onChange?: () => void
  /** onInvalid reports a value under shards/ that failed validation (it is ignored, never served). */
  onInvalid?: (key: string, message: string) => void
  /** onStatus reports the watch's connection state. */
  onStatus?: (status: WatchStatus) => void
}

/**
 * ShardMapFollower is the live copy of the shard map that storage nodes and routers share:
 * seeded by one listing at revision R, kept current by a resumable watch from R, and
 * refreshed one shard at a time out of band. Every observation goes through a
 * {@link ShardMapState}, so no shard's entry ever moves backwards, whichever of a resync,
 * the watch or a refresh saw it first; {@link mapRevision} is the revision up to which
 * every shard-map change is reflected (what the executor's barrier compares with).
 */
export class ShardMapFollower {
  private readonly state = new ShardMapState()
  private readonly decoder = new ShardDecoder()
  private watch?: ResumableWatch
  /** refreshes gives each refresh caller a read sent after it called, at most two per shard at once (see {@link refresh}). */
  private readonly refreshes = new FreshReads<number, Shard | undefined>((id) => this.refreshOnce(id))
  private notifyQueued = false
  private stopped = false
  private changes = 0

  constructor(
    private readonly ctx: ServiceContext,
    private readonly opts: ShardMapFollowerOptions = {},
  ) {}

  /**
   * start lists the map and watches it from the listing's revision; calling it again (after a
   * lapsed lease) re-lists and restarts the watch. Throws the store's UserErrors (ETCD_UNREACHABLE, ...).
   */
  async start(): Promise<void> {
    await this.watch?.close()
    this.watch = undefined
    const revision = await this.resync()
    if (this.stopped) return
    this.watch = watchPrefix(this.ctx.store, this.ctx.keys.shardsPrefix, {
      fromRevision: revision,
      onEvent: (ev) => this.onEvent(ev),
      resync: () => this.resync(),
      onStatus: this.opts.onStatus,
    })
  }

  /**
   * resync re-reads every shard at one revision, folds the listing in (monotonically: it
   * never undoes a newer event or refresh) and returns the listing's revision. The map is
   * read in parts, two at a time (see scanInParts), cut by the cluster's shard count. When
   * etcd compacts the listing's revision away before the last part is read (a large map
   * takes seconds; auto-compaction or an operator may run meanwhile), it lists the whole
   * map again at a newer revision, up to {@link MAX_LISTINGS} listings. Throws the store's
   * UserErrors, and CONFLICT when every listing was compacted away.
   */
  async resync(): Promise<bigint> {
    for (let listing = 1; ; listing++) {
      try {
        return await this.listOnce()
      } catch (err) {
        if (!isCompactedError(err)) throw err
        if (listing === MAX_LISTINGS) {
          throw new UserError('CONFLICT', `the shard map could not be read: ${MAX_LISTINGS} listings in a row had their revision compacted away before they finished (${err.message})`, 'etcd compacts its history faster than the whole map can be read: compact less often (a longer auto-compaction retention)', {cause: err})
        }
      }
    }
  }

  /** listOnce is one listing of {@link resync}: the whole map at one revision, folded in only once every part is in. */
  private async listOnce(): Promise<bigint> {
    const meta = await this.ctx.store.get(this.ctx.keys.meta)
    const parsed = meta ? parseStoredJson(meta.key, meta.value, ClusterMetaSchema) : undefined
    // No usable meta (a test store, a cluster being created): one listing, cut nowhere.
    const cuts = parsed ? shardSplitKeys(this.ctx.keys.shard, parsed.nextShardId) : []
    // Each page is decoded as it arrives (while etcd answers the next), and its raw values
    // dropped; nothing is folded into the state until the whole listing is in, so the map
    // is never partial.
    const entries: ShardEntry[] = []
    const revision = await scanInParts(this.ctx.store, this.ctx.keys.shardsPrefix, cuts, (items) => {
      for (const kv of items) {
        const shard = this.parse(kv.key, kv.value)
        if (shard) entries.push({shard, modRevision: kv.modRevision})
      }
    })
    if (this.state.applySnapshot(entries, revision)) this.changed()
    return revision
  }

  /**
   * refresh re-reads shard `id` (linearizable), folds it in and returns the newest known
   * version; undefined when the shard no longer exists. Every caller gets a read that was
   * sent after it called: concurrent callers share one read only if it has not been sent
   * yet (the one queued behind a read in flight). Throws the store's UserErrors (ETCD_UNREACHABLE).
   */
  refresh(id: number): Promise<Shard | undefined> {
    // Why not share the read in flight: see FreshReads (a split's parent re-read, session 15).
    return this.refreshes.get(id)
  }

  /** get returns shard `id` as last seen, or undefined. */
  get(id: number): Shard | undefined {
    return this.state.get(id)
  }

  /** all returns every known shard (no order promised). */
  all(): Shard[] {
    return this.state.shards()
  }

  /** mapRevision: see the class doc (0n before {@link start}). */
  mapRevision(): bigint {
    return this.state.appliedRevision()
  }

  /** version counts the changes folded in so far (bumped synchronously): a cache of the map is current while it is unchanged. */
  version(): number {
    return this.changes
  }

  /** stop ends the watch; no callback runs afterwards. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true
    await this.watch?.close()
    this.watch = undefined
  }

  private async refreshOnce(id: number): Promise<Shard | undefined> {
    const {kv, revision} = await this.ctx.store.getAt(this.ctx.keys.shard(id))
    let changed: boolean
    if (!kv) changed = this.state.offerAbsent(id, revision)
    else {
      const shard = this.parse(kv.key, kv.value)
      changed = shard !== undefined && this.state.offerPut({shard, modRevision: kv.modRevision})
    }
    if (changed) this.changed()
    return this.state.get(id)
  }

  private onEvent(ev: WatchEvent): void {
    const id = Number(lastSegment(ev.key))
    let changed = false
    if (!Number.isSafeInteger(id)) this.opts.onInvalid?.(ev.key, 'the key does not end in a shard id')
    else if (ev.type === 'delete') changed = this.state.applyDelete(id, ev.modRevision)
    else {
      const shard = this.parse(ev.key, ev.value)
      if (shard && shard.id !== id) this.opts.onInvalid?.(ev.key, `holds shard ${shard.id}`)
      else if (shard) changed = this.state.applyPut({shard, modRevision: ev.modRevision})
    }
    // A skipped (invalid) event still counts as seen: the map up to its revision is reflected.
    this.state.observeEvent(ev.modRevision)
    if (changed) this.changed()
  }

  private parse(key: string, value: string): Shard | undefined {
    return this.decoder.decode(key, value, this.opts.onInvalid)
  }


  private changed(): void {
    this.changes++
    if (this.notifyQueued || this.stopped) return
    this.notifyQueued = true
    queueMicrotask(() => {
      this.notifyQueued = false
      if (!this.stopped) this.opts.onChange?.()
    })
  }
}
