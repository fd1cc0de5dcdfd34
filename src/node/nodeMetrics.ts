import {collectDefaultMetrics, Counter, Gauge, Histogram, Registry} from 'prom-client'

/** ShardFigure is one held shard's size, as the node's status reports it. */
export interface ShardFigure {
  shard: number
  role: string
  bytes: number
  keys: number
}

/**
 * NodeMetrics is a storage node's Prometheus registry (its own, not prom-client's
 * global): requests by operation and status with latency (the `digest` operation's
 * latency is the digest time), apply batches and bytes by kind (`copy` is copy-in),
 * snapshot bytes served (copy-out), commit (fsync) time by kind, tombstones stored and
 * purged, bytes and keys per held shard (read at scrape time),
 * and the standard Node.js process metrics under their usual names.
 */
export class NodeMetrics {
  readonly registry = new Registry()
  private readonly requests: Counter<'op' | 'status'>
  private readonly latency: Histogram<'op'>
  private readonly applyBatches: Counter<'kind'>
  private readonly applyBytes: Counter<'kind'>
  private readonly copyOutBytes: Counter
  private readonly commitSeconds: Histogram<'kind'>
  private readonly purgedTombstones: Counter
  private readonly backgroundSyncSeconds: Histogram<'file'>
  private readonly walWaitSeconds: Histogram<'outcome'>

  constructor(shards: () => ShardFigure[], opts: {defaultMetrics?: boolean; tombstones?: () => number; diskReserve?: () => number} = {}) {
    const registers = [this.registry]
    this.requests = new Counter({name: 'shardctl_node_requests_total', help: 'Requests by operation and HTTP status.', labelNames: ['op', 'status'], registers})
    this.latency = new Histogram({
      name: 'shardctl_node_request_duration_seconds',
      help: 'Request latency by operation (get, apply, snapshot, digest, …).',
      labelNames: ['op'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    })
    this.applyBatches = new Counter({name: 'shardctl_node_apply_batches_total', help: 'Apply batches by kind (write, replay: a hinted write delivered later, repair, copy).', labelNames: ['kind'], registers})
    this.applyBytes = new Counter({name: 'shardctl_node_apply_bytes_total', help: 'Bytes of apply batches by kind; kind="copy" is the copy-in of shard moves.', labelNames: ['kind'], registers})
    this.copyOutBytes = new Counter({name: 'shardctl_node_copy_out_bytes_total', help: 'Bytes of snapshot chunks served (copy-out of shard moves).', registers})
    this.commitSeconds = new Histogram({
      name: 'shardctl_node_commit_duration_seconds',
      help: 'Time of each committed SQLite transaction, the WAL fsync included, by kind (group: group-committed applies, copy: a copy frame, purge: tombstones).',
      labelNames: ['kind'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    })
    this.backgroundSyncSeconds = new Histogram({
      name: 'shardctl_node_background_sync_duration_seconds',
      help: 'Each fdatasync run off the writer thread, by file (wal: a flush of copy commits made without fsync; db: the database file after a background checkpoint).',
      labelNames: ['file'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    })
    this.walWaitSeconds = new Histogram({
      name: 'shardctl_node_copy_wal_wait_duration_seconds',
      help: 'Each wait of a copy commit for the WAL to restart (once it is about 64 MiB long; client commits never wait), by outcome (restarted, gave-up).',
      labelNames: ['outcome'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    })
    this.purgedTombstones = new Counter({name: 'shardctl_node_tombstones_purged_total', help: 'Tombstones purged by this node (two-phase purge after anti-entropy).', registers})
    // Read when scraped, from the node's own figure (absent: the gauge is not exported).
    const readAtScrape = (name: string, help: string, read: (() => number) | undefined) => {
      if (!read) return
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read())
        },
      })
    }
    readAtScrape('shardctl_node_tombstones', 'Tombstones stored on this node (deletes kept until every replica has them and the grace passed).', opts.tombstones)
    readAtScrape('shardctl_node_disk_reserve_bytes', 'Bytes of the disk reserve file held in the data dir (0: given up to let drops and purges free a full disk, no room for it yet, or --disk-reserve 0).', opts.diskReserve)
    const perShard = (name: string, help: string, pick: (f: ShardFigure) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['shard', 'role'],
        registers,
        collect() {
          this.reset()
          for (const f of shards()) this.set({shard: String(f.shard), role: f.role}, pick(f))
        },
      })
    perShard('shardctl_node_shard_bytes', 'Bytes stored per held shard (keys and values, tombstones included).', (f) => f.bytes)
    perShard('shardctl_node_shard_keys', 'Records stored per held shard (tombstones included).', (f) => f.keys)
    if (opts.defaultMetrics !== false) collectDefaultMetrics({register: this.registry})
  }

  /** request records one finished request; `op` is a route name (bounded), never a key. */
  request(op: string, status: number, seconds: number): void {
    this.requests.inc({op, status: String(status)})
    this.latency.observe({op}, seconds)
  }

  /** applied counts one accepted apply batch of `bytes` (request body) of `kind`. */
  applied(kind: string, bytes: number): void {
    this.applyBatches.inc({kind})
    this.applyBytes.inc({kind}, bytes)
  }

  /** copiedOut counts snapshot bytes served. */
  copiedOut(bytes: number): void {
    this.copyOutBytes.inc(bytes)
  }

  /** committed records one committed transaction of `kind` that took `seconds`, fsync included. */
  committed(kind: string, seconds: number): void {
    this.commitSeconds.observe({kind}, seconds)
  }

  /** backgroundSynced records one fdatasync of `file` run off the writer thread. */
  backgroundSynced(file: string, seconds: number): void {
    this.backgroundSyncSeconds.observe({file}, seconds)
  }

  /** walWaited records one wait of a copy commit for the WAL to restart, and how it ended. */
  walWaited(outcome: string, seconds: number): void {
    this.walWaitSeconds.observe({outcome}, seconds)
  }

  /** purged counts tombstones this node purged. */
  purged(count: number): void {
    this.purgedTombstones.inc(count)
  }

  /** render returns the exposition text and its content type. */
  async render(): Promise<{body: string; contentType: string}> {
    return {body: await this.registry.metrics(), contentType: this.registry.contentType}
  }
}
