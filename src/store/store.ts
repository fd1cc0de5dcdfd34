import {type z} from 'zod'

/** StoredValue is a raw value read from the store with the revisions CAS and fencing need. */
export interface StoredValue {
  key: string
  value: string
  /** modRevision is the store revision of the key's last change. */
  modRevision: bigint
  /** createRevision is the store revision that created the key (it changes when the key is deleted and created again). */
  createRevision: bigint
  /** version counts the changes since the key was created (1 after the create). */
  version: bigint
  /** lease is the id of the lease the key is attached to, '0' for none. */
  lease: string
}

/** Typed is a validated value with its revisions. */
export interface Typed<T> extends Omit<StoredValue, 'value'> {
  value: T
}

/** Compare is one guard of a transaction: a key's mod revision equals a value (0n = absent), or its create revision does. */
export type Compare = {key: string; modRevision: bigint} | {key: string; createRevision: bigint}

/**
 * compareHolds tells whether compare `c` holds for `kv` as read (undefined: absent, whose mod
 * and create revisions are 0), exactly as etcd evaluates it. Pure.
 */
export function compareHolds(c: Compare, kv: Pick<StoredValue, 'modRevision' | 'createRevision'> | undefined): boolean {
  return 'modRevision' in c ? (kv?.modRevision ?? 0n) === c.modRevision : (kv?.createRevision ?? 0n) === c.createRevision
}

/** Txn is an all-or-nothing change: when every compare holds, every put and delete happens, at one new revision. */
export interface Txn {
  compares: Compare[]
  puts?: {key: string; value: string; lease?: string}[]
  deletes?: string[]
  /** deletePrefixes removes whole key ranges (for `cluster init --force`). */
  deletePrefixes?: string[]
}

/** MAX_TXN_OPS is etcd's default limit on operations per transaction (--max-txn-ops); every store enforces it. */
export const MAX_TXN_OPS = 128

/**
 * LIST_PAGE_SIZE bounds one range response (10,000 shard records are about 3 MiB, below the
 * 64 MiB EtcdStore lets gRPC receive). Pages are large because etcd 3.4 counts every key left
 * in the range on each page: 100k shards took 100 pages of ~140 ms each at 1,000 a page.
 */
export const LIST_PAGE_SIZE = 10_000

/** ListOptions tune {@link Store.list}: the page size of each read and the revision to read at (default: the current one). */
export interface ListOptions {
  pageSize?: number
  revision?: bigint
  /** from and end bound the keys read to [from, end) within the prefix (default: all of it), to read one part of a prefix. */
  from?: string
  end?: string
}

/** PageQuery asks {@link Store.listPage} for up to `limit` keys under a prefix, strictly after `after`, at `revision`. */
export interface PageQuery {
  /** after: return keys sorting strictly after this one (the last key of the previous page). */
  after?: string
  limit: number
  revision?: bigint
  /** from: without `after`, start at this key (inclusive; default: the prefix). */
  from?: string
  /** end: return only keys sorting strictly before this one (default: every key under the prefix). */
  end?: string
}

/** Page is one answer of {@link Store.listPage}: keys in ascending order, whether more follow, and the revision it was read at. */
export interface Page {
  items: StoredValue[]
  more: boolean
  revision: bigint
}

/** LeaseHandle is a granted lease kept alive in the background. */
export interface LeaseHandle {
  /** id is the lease id, for puts attached to it and for fencing compares. */
  id: string
  /** lost is true once the lease was revoked, or may have expired in etcd (no keepalive answered in time: see src/etcd/leaseDeadline.ts); the holder must stop acting. */
  readonly lost: boolean
  /** onLost registers a callback fired once when the lease is lost. */
  onLost(fn: (err: Error) => void): void
  /** msLeft is how long from now the holder trusts the lease alive by its own deadline (see src/etcd/leaseDeadline.ts); absent when the store keeps none. */
  msLeft?(): number
  /** revoke ends the lease now, deleting every key attached to it. Idempotent. */
  revoke(): Promise<void>
}

/** WatchEvent is one change under a watched prefix. */
export interface WatchEvent {
  type: 'put' | 'delete'
  key: string
  value: string
  modRevision: bigint
}

/** WatchStatus is what a watch reports about its connection, for UIs ("reconnecting"). */
export type WatchStatus = 'connected' | 'disconnected' | 'resyncing'

/** WatchOptions configures {@link Store.watch}. */
export interface WatchOptions {
  /** fromRevision: deliver events after this revision (usually the revision of the list that seeded the caller's state). */
  fromRevision: bigint
  onEvent: (ev: WatchEvent) => void
  /**
   * resync is called when events were lost for good (the resume revision was compacted):
   * the caller re-reads its state and returns the revision of that read; the watch goes on
   * from there. Level-based consumers stay correct: a missed event delays, never corrupts.
   */
  resync: () => Promise<bigint>
  onStatus?: (status: WatchStatus) => void
}

/** Watch is a running watch; close() stops it and releases its stream. */
export interface Watch {
  /** close stops the watch; it waits at most about a second for etcd to confirm, so a stop is never held by an etcd that does not answer. */
  close(): Promise<void>
  /** lastRevision is the revision of the last event delivered (or the start revision, or the last resync's). */
  lastRevision(): bigint
}

/** StoreTarget names where a store points and where that came from, for messages (`etcd at X (from --endpoints)`). */
export interface StoreTarget {
  endpoints: string[]
  source: string
}

/**
 * Store is the control plane's narrow view of its source of truth (etcd in production,
 * {@link MemoryStore} in unit tests); every service uses it, never a concrete client.
 * Revisions follow etcd: one global revision that every successful write raises by one,
 * and per key a createRevision, a modRevision and a version.
 *
 * Errors are coded UserErrors: ETCD_UNREACHABLE (exit 3) and ETCD_AUTH (exit 4) from every
 * method that talks to the server; the other codes are named per method. A failed compare
 * is not an error for {@link commit} (it returns undefined), only for the helpers that
 * promise a specific outcome (create, update, delete with an expected revision).
 *
 * Every implementation passes the contract suite in test/store/storeContract.ts.
 */
export interface Store {
  /** conn says where the store points, for messages and status output. */
  readonly conn: StoreTarget

  /** close releases the store's connections; running watches end, held leases stop being kept alive. */
  close(): void

  /** ping checks that the store answers (and accepts the credentials); returns the current revision. */
  ping(): Promise<bigint>

  /** revision returns the store's current revision. */
  revision(): Promise<bigint>

  /**
   * serverVersion returns the version of the server answering (etcd's `3.4.23`), undefined
   * for a store without one (the in-memory twin). See etcdKnownBugs.ts for what it is for.
   */
  serverVersion(): Promise<string | undefined>

  /** get reads one key at the current revision; undefined when absent. */
  get(key: string): Promise<StoredValue | undefined>

  /**
   * getAt reads one key (at `revision`, default the current one) and returns it (undefined
   * when absent) with the revision the read was served at, so a caller can tell "absent at
   * revision R" from a stale answer. Throws CONFLICT when `revision` was compacted,
   * BAD_INPUT when it is in the future.
   */
  getAt(key: string, revision?: bigint): Promise<{kv: StoredValue | undefined; revision: bigint}>

  /**
   * getTyped reads and validates one key. Throws CORRUPT_VALUE naming the key and the
   * failing field when the value is not JSON or fails `schema`.
   */
  getTyped<S extends z.ZodType>(key: string, schema: S): Promise<Typed<z.output<S>> | undefined>

  /**
   * listPage reads one page: up to `limit` keys under `prefix` after `after`, in key order,
   * at `revision` (default current). Throws CONFLICT when `revision` was compacted,
   * BAD_INPUT when it is in the future.
   */
  listPage(prefix: string, query: PageQuery): Promise<Page>

  /**
   * list returns every key under `prefix` in key order, read page by page at one pinned
   * revision (a consistent view however large the prefix), with that revision. Throws as
   * {@link listPage}; a list pinned at the current revision can still throw CONFLICT when a
   * compaction overtakes it between pages.
   */
  list(prefix: string, opts?: ListOptions): Promise<{items: StoredValue[]; revision: bigint}>

  /**
   * scan yields the keys under `prefix` in key order one page at a time, every page read at
   * the first page's revision (a consistent view), so a caller can fold a prefix of any size
   * holding one page; stopping early reads no further page. Throws as {@link list}.
   */
  scan(prefix: string, opts?: ListOptions): AsyncGenerator<{items: StoredValue[]; revision: bigint}>

  /** listTyped lists and validates every value under `prefix` (CORRUPT_VALUE names the first bad key). */
  listTyped<S extends z.ZodType>(prefix: string, schema: S, opts?: ListOptions): Promise<{items: Typed<z.output<S>>[]; revision: bigint}>

  /** create writes `key` only if absent. Throws ALREADY_EXISTS otherwise. Returns the new revision. */
  create(key: string, value: string, lease?: string): Promise<bigint>

  /** update writes `key` only if its mod revision is still `expected`. Throws CONFLICT otherwise. Returns the new revision. */
  update(key: string, value: string, expected: bigint): Promise<bigint>

  /** put writes `key` unconditionally (optionally attached to a lease; a lease that does not exist is NOT_FOUND). Returns the new revision. */
  put(key: string, value: string, lease?: string): Promise<bigint>

  /** delete removes `key`; when `expected` is given only if its mod revision still equals it (CONFLICT otherwise). Deleting an absent key is a no-op. */
  delete(key: string, expected?: bigint): Promise<void>

  /**
   * commit runs `txn` atomically. Returns the new revision when every compare held (a txn
   * that changes nothing does not raise the revision: the current one is returned), or
   * undefined when one failed (nothing was written). A put to a lease that does not exist
   * throws NOT_FOUND and writes nothing; a txn over {@link MAX_TXN_OPS} operations throws
   * RangeError (the caller's bug).
   *
   * On retry: an attempt whose answer was lost (a connection reset, a leader killed) is sent
   * again; when it had landed, commit still returns the revision it landed at, not undefined
   * (EtcdStore: ownCommit.ts). A transaction without compares may land twice (same writes,
   * two revisions). When no attempt got through, the store's error (ETCD_UNREACHABLE) leaves
   * the outcome unknown: read before acting on it.
   */
  commit(txn: Txn): Promise<bigint | undefined>

  /**
   * grantLease creates a lease of `ttlSeconds` and keeps it alive in the background until
   * it is revoked or lost. The holder counts itself lost no later than etcd may expire the
   * lease (etcd: 90% of the TTL after the newest answered keepalive was sent); holders that
   * must be safe still fence their writes in the transaction itself.
   */
  grantLease(ttlSeconds: number): Promise<LeaseHandle>

  /** revokeLease ends lease `id` now (as if it expired): every key attached to it is deleted in one revision. A lease that does not exist is a no-op. */
  revokeLease(id: string): Promise<void>

  /**
   * watch delivers every change under `prefix` after `opts.fromRevision`, in revision order,
   * each (revision, key) once, across dropped connections: a dropped stream resumes from the
   * revision after the last delivered event. When the resume revision was compacted it
   * calls `opts.resync` and goes on from the revision that returns.
   */
  watch(prefix: string, opts: WatchOptions): Watch

  /** compact discards history before `revision` (reads and watches from older revisions then fail or resync). */
  compact(revision: bigint): Promise<void>
}
