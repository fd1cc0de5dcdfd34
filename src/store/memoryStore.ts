import {UserError} from '../errors/errors.js'
import {type FaultHit, MemoryFaults, type StoreOp} from './memoryFaults.js'
import {MemoryState} from './memoryState.js'
import {type DropOptions, MemoryWatch} from './memoryWatch.js'
import {type LeaseHandle, type Page, type PageQuery, type StoredValue, type StoreTarget, type Txn, type Watch, type WatchOptions} from './store.js'
import {StoreBase, checkTxnSize} from './storeBase.js'

/** MemoryStoreOptions: `sleep` backs {@link MemoryFaults.delay} (a real timer by default; only delay faults use it). */
export interface MemoryStoreOptions {
  sleep?: (ms: number) => Promise<void>
}

/**
 * MemoryStore is the in-memory twin of EtcdStore for fast, deterministic unit tests: the
 * same {@link Store} contract (the shared contract suite runs against both), etcd's
 * revision semantics, and fault injection through {@link faults} plus the helpers below
 * (expire a lease, drop watches). It starts no timers: leases never expire by time (a
 * test ends one with {@link expireLease}); watch events arrive on microtasks.
 *
 * Several clients can share one state, like processes sharing one etcd: {@link connect}
 * opens another client whose close() ends only its own watches and leases.
 */
export class MemoryStore extends StoreBase {
  readonly conn: StoreTarget = {endpoints: ['memory://'], source: 'an in-memory store'}
  /** faults is the fault table shared by every client of this state. */
  readonly faults: MemoryFaults
  private readonly watches = new Set<MemoryWatch>()
  private readonly ownLeases = new Set<string>()
  private closed = false

  constructor(
    opts: MemoryStoreOptions = {},
    private readonly state: MemoryState = new MemoryState(),
    faults?: MemoryFaults,
  ) {
    super()
    this.faults = faults ?? new MemoryFaults(opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms).unref())))
  }

  /** connect opens another client over the same data and faults (a second process on the same etcd). */
  connect(): MemoryStore {
    return new MemoryStore({}, this.state, this.faults)
  }

  /**
   * close ends this client: its watches stop, and its leases end as if their TTL had passed
   * (their keys are deleted; a closed process stops keeping them alive). Idempotent.
   */
  close(): void {
    if (this.closed) return
    this.closed = true
    for (const w of [...this.watches]) void w.close()
    for (const id of this.ownLeases) this.state.endLease(id, true)
    this.ownLeases.clear()
  }

  /** revision: see {@link Store.revision}. */
  async revision(): Promise<bigint> {
    return this.afterOp(await this.before('get', []), this.state.revision)
  }

  /** getAt: see {@link Store.getAt}. */
  async getAt(key: string, revision?: bigint): Promise<{kv: StoredValue | undefined; revision: bigint}> {
    const hit = await this.before('get', [key])
    return this.afterOp(hit, {kv: this.state.read(key, revision), revision: revision ?? this.state.revision})
  }

  /** listPage: see {@link Store.listPage}. */
  async listPage(prefix: string, query: PageQuery): Promise<Page> {
    const hit = await this.before('list', [prefix], true)
    const revision = query.revision ?? this.state.revision
    return this.afterOp(hit, {...this.state.range(prefix, query.after, query.limit, revision, query.end, query.from), revision})
  }

  /** commit: see {@link Store.commit}. */
  async commit(txn: Txn): Promise<bigint | undefined> {
    checkTxnSize(txn)
    const keys = [...txn.compares.map((c) => c.key), ...(txn.puts ?? []).map((p) => p.key), ...(txn.deletes ?? []), ...(txn.deletePrefixes ?? [])]
    const hit = await this.before('txn', keys)
    return this.afterOp(hit, this.state.apply(txn))
  }

  /** grantLease: see {@link Store.grantLease}. The lease lives until revoked, expired by {@link expireLease}, or this client closes. */
  async grantLease(ttlSeconds: number): Promise<LeaseHandle> {
    if (!Number.isFinite(ttlSeconds) || ttlSeconds < 1) throw new RangeError(`a lease TTL must be at least 1 second, got ${ttlSeconds}`)
    await this.before('lease', [])
    const lease = this.state.grant(ttlSeconds)
    this.ownLeases.add(lease.id)
    let lost = false
    const callbacks: ((err: Error) => void)[] = []
    lease.onEnd.push(() => {
      lost = true
      const err = new Error(`lease ${lease.id} expired`)
      // Like etcd3, the holder hears of the loss later than it happened, never inside the write that caused it.
      queueMicrotask(() => {
        for (const cb of callbacks) cb(err)
      })
    })
    return {
      id: lease.id,
      get lost() {
        return lost
      },
      onLost(fn) {
        callbacks.push(fn)
      },
      revoke: async () => {
        if (lost) return
        lost = true
        this.ownLeases.delete(lease.id)
        this.state.endLease(lease.id, false)
      },
    }
  }

  /** revokeLease: see {@link Store.revokeLease}. Its holder hears of it as a loss. */
  async revokeLease(id: string): Promise<void> {
    await this.before('lease', [])
    this.state.endLease(id, true)
  }

  /** watch: see {@link Store.watch} and {@link MemoryWatch}. */
  watch(prefix: string, opts: WatchOptions): Watch {
    if (this.closed) throw new UserError('ETCD_UNREACHABLE', 'the memory store is closed', 'open a new client')
    const w = new MemoryWatch(this.state, prefix, opts, (done) => {
      this.watches.delete(done)
      this.state.watches.delete(done)
    })
    this.watches.add(w)
    this.state.watches.add(w)
    return w
  }

  /** compact: see {@link Store.compact}. */
  async compact(revision: bigint): Promise<void> {
    await this.before('txn', [])
    this.state.compact(revision)
  }

  /** expireLease ends lease `id` now, as if its TTL passed without keepalives: its keys go in one revision and its holder hears it lost. */
  expireLease(id: string): void {
    this.state.endLease(id, true)
  }

  /** leaseIds lists the live leases of every client, for tests that expire "whatever the process holds". */
  leaseIds(): string[] {
    return [...this.state.leases.keys()]
  }

  /** dropWatches cuts the streams of every watch of this state under `prefix` (all when omitted); see {@link DropOptions}. */
  dropWatches(opts: DropOptions & {prefix?: string} = {}): void {
    for (const w of this.allWatches()) if (opts.prefix === undefined || w.prefix.startsWith(opts.prefix)) w.drop(opts)
  }

  /** reconnectWatches brings back every watch left down by `stayDown` or a failed resync. */
  reconnectWatches(): void {
    for (const w of this.allWatches()) w.reconnect()
  }

  private allWatches() {
    return [...this.state.watches]
  }

  /** before applies the faults due before an operation and returns what is due after it (see {@link afterOp}). */
  private async before(op: StoreOp, keys: string[], listing = false): Promise<FaultHit> {
    if (this.closed) throw new UserError('ETCD_UNREACHABLE', 'the memory store is closed', 'open a new client')
    const hit = this.faults.hit(op, keys, listing)
    if (hit.waitBefore) await hit.waitBefore()
    if (hit.failBefore) throw hit.failBefore
    return hit
  }

  /** afterOp delays the answer of an operation that already ran, or throws as if the answer was lost. */
  private async afterOp<T>(hit: FaultHit, result: T): Promise<T> {
    if (hit.waitAfter) await hit.waitAfter()
    if (hit.failAfter) throw hit.failAfter
    return result
  }
}
