import {readFileSync} from 'node:fs'
import * as etcd from 'etcd3'
import {type ConnectionConfig} from '../config/connectionConfig.js'
import {isUserError, UserError} from '../errors/errors.js'
import {prefixEnd} from '../store/keyRange.js'
import {type Compare, type LeaseHandle, type Page, type PageQuery, type StoredValue, type Txn, type Watch, type WatchOptions} from '../store/store.js'
import {StoreBase, checkTxnSize, compactedError, futureRevisionError, isCompactedError} from '../store/storeBase.js'
import {etcdFaultHandling, trackResends} from './commitResend.js'
import {toEtcdUserError} from './etcdErrors.js'
import {findOwnCommit} from './ownCommit.js'
import {rawRange, rawRangeAvailable} from './rawRange.js'
import {grantEtcdLease} from './leaseHandle.js'
import {watchEtcdPrefix} from './resumableWatch.js'
import {etcdTimeoutMs} from './etcdTimeout.js'
import {connectFirstTransformer} from './connectFirst.js'

export {LIST_PAGE_SIZE, MAX_TXN_OPS} from '../store/store.js'
export type {Compare, StoredValue, Txn, Typed} from '../store/store.js'
export {decodeStored} from '../store/decodeStored.js'
export {prefixEnd} from '../store/keyRange.js'

/**
 * etcdClientOptions builds etcd3 options from a resolved connection: TLS material, auth,
 * gRPC keepalive while calls are open (so silent half-open watch streams are detected
 * within about 15 s) and a
 * deadline on every unary call (SHARDCTL_ETCD_TIMEOUT_MS in `env`, 5 s by default), so an
 * unreachable etcd fails fast instead of hanging. A call that finds its channel connecting
 * first waits for it, at most that long too, and then gets the whole deadline (connectFirst.ts). Throws UserError(BAD_INPUT) for a bad
 * timeout or a missing CA.
 */
export function etcdClientOptions(conn: ConnectionConfig, env: Record<string, string | undefined> = process.env): etcd.IOptions {
  const timeoutMs = etcdTimeoutMs(env)
  const opts: etcd.IOptions = {
    hosts: conn.endpoints,
    dialTimeout: timeoutMs,
    // etcd's server allows a ping at most every 5 s (--grpc-keepalive-min-time) and none
    // while no call is open: pinging an idle connection, or at exactly 5 s with jitter, earns
    // a GOAWAY "too_many_pings" that drops the connection and every watch on it.
    grpcOptions: {
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5000,
      'grpc.keepalive_permit_without_calls': 0,
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      // A unary call's deadline starts once its channel is connected (connectFirst.ts): etcd3
      // makes a new channel after every failed call, and on a slow link the connection ate the
      // deadline, so every first call failed and closed the channel again.
      callInvocationTransformer: connectFirstTransformer(),
    },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : {deadline: Date.now() + timeoutMs}),
    // etcd3's own resends, which also tell a commit it was resent (see commit).
    faultHandling: etcdFaultHandling(),
  }
  if (conn.cacert || conn.cert || conn.endpoints.some((e) => e.startsWith('https:'))) {
    if (!conn.cacert) throw new UserError('BAD_INPUT', 'an https:// etcd endpoint needs the CA certificate that signed its server certificate', 'pass --cacert FILE (or ETCDCTL_CACERT)')
    opts.credentials = {
      rootCertificate: readFileSync(conn.cacert),
      ...(conn.cert && conn.key ? {certChain: readFileSync(conn.cert), privateKey: readFileSync(conn.key)} : {}),
    }
  }
  if (conn.user !== undefined && conn.password !== undefined) opts.auth = {username: conn.user, password: conn.password}
  return opts
}

/**
 * EtcdStore is the etcd implementation of {@link Store}, the product's store: it is the
 * only place that holds an etcd3 client; every failure reaching a caller is a UserError
 * with a code (see etcdErrors.ts) or a bug.
 */
export class EtcdStore extends StoreBase {
  readonly #client: etcd.Etcd3
  /** #timeoutMs is the unary deadline the client was made with, for the raw range calls that bypass etcd3. */
  readonly #timeoutMs: number

  constructor(readonly conn: ConnectionConfig) {
    super()
    const opts = etcdClientOptions(conn)
    this.#timeoutMs = etcdTimeoutMs(process.env)
    this.#client = new etcd.Etcd3(opts)
  }

  /** close releases the client's connections; pending watches end. */
  close(): void {
    this.#client.close()
  }

  /** revision returns etcd's current revision. */
  async revision(): Promise<bigint> {
    const res = await this.wrap(() => this.#client.get('/shardctl/').exec())
    return BigInt(res.header.revision)
  }

  /** serverVersion: see {@link Store.serverVersion}. The member this client talks to answers (members of one cluster may differ while it is upgraded). */
  override async serverVersion(): Promise<string | undefined> {
    const res = await this.wrap(() => this.#client.maintenance.status())
    return res.version || undefined
  }

  /** getAt: see {@link Store.getAt}. */
  async getAt(key: string, revision?: bigint): Promise<{kv: StoredValue | undefined; revision: bigint}> {
    const b = this.#client.get(key)
    if (revision !== undefined) b.revision(revision.toString())
    const res = await this.wrap(() => b.exec(), revision)
    const kv = res.kvs[0]
    return {kv: kv ? toStored(kv) : undefined, revision: revision ?? BigInt(res.header.revision)}
  }

  /** listPage: see {@link Store.listPage}. */
  async listPage(prefix: string, query: PageQuery): Promise<Page> {
    const start = query.after === undefined ? (query.from ?? prefix) : `${query.after}\0`
    // No sort option: a range comes back in key order anyway, and with one etcd 3.4 reads the
    // whole rest of the range before applying the limit (100k shards: 62 s instead of 14 s).
    const end = query.end ?? prefixEnd(prefix)
    // Decoded by hand (rawRange): etcd3's decode was about a second of CPU per 100k keys at a node's start-up.
    if (rawRangeAvailable(this.#client)) {
      const res = await this.wrap(() => rawRange(this.#client, {key: start, rangeEnd: end, limit: query.limit, revision: query.revision}, this.#timeoutMs), query.revision)
      return {items: res.kvs, more: res.more, revision: query.revision ?? res.revision}
    }
    const builder = this.#client.getAll().inRange({start, end}).limit(query.limit)
    if (query.revision !== undefined) builder.revision(query.revision.toString())
    const res = await this.wrap(() => builder.exec(), query.revision)
    return {items: res.kvs.map(toStored), more: res.more, revision: query.revision ?? BigInt(res.header.revision)}
  }

  /**
   * commit: see {@link Store.commit}. etcd3 sends a transaction again when an attempt fails on
   * the connection (a leader killed, a reset); when that attempt had landed and only its answer
   * was lost, the resend fails its own compares. So a failed compare after a resend looks for
   * the earlier attempt's write (ownCommit.ts) and returns the revision it landed at: a caller
   * sees a conflict only when someone else's change made the compares fail.
   */
  async commit(txn: Txn): Promise<bigint | undefined> {
    checkTxnSize(txn)
    const b = txn.compares[0] ? this.#client.if(txn.compares[0].key, ...compareArgs(txn.compares[0])) : this.#client.if(...alwaysTrue(txn))
    for (const c of txn.compares.slice(1)) b.and(c.key, ...compareArgs(c))
    const thenOps: (etcd.PutBuilder | etcd.DeleteBuilder)[] = []
    for (const p of txn.puts ?? []) {
      const put = this.#client.put(p.key).value(p.value)
      if (p.lease) put.lease(p.lease)
      thenOps.push(put)
    }
    for (const d of txn.deletes ?? []) thenOps.push(this.#client.delete().key(d))
    for (const d of txn.deletePrefixes ?? []) thenOps.push(this.#client.delete().prefix(d))
    const {value: res, resent} = await this.wrap(() => trackResends(() => b.then(...thenOps).commit()))
    if (res.succeeded) return BigInt(res.header.revision)
    if (!resent || txn.compares.length === 0) return undefined
    return findOwnCommit(txn, {
      revision: () => this.revision(),
      getAt: (key, revision) => this.getAt(key, revision),
      anyUnder: async (prefix, revision) => (await this.listPage(prefix, {limit: 1, revision})).items.length > 0,
    })
  }

  /** grantLease: see {@link Store.grantLease}. */
  grantLease(ttlSeconds: number): Promise<LeaseHandle> {
    return grantEtcdLease(this.#client, (fn) => this.wrap(fn), ttlSeconds)
  }

  /** revokeLease: see {@link Store.revokeLease}. */
  async revokeLease(id: string): Promise<void> {
    try {
      await this.wrap(() => this.#client.leaseClient.leaseRevoke({ID: id}))
    } catch (err) {
      if (!isUserError(err, 'NOT_FOUND')) throw err
    }
  }

  /** watch: see {@link Store.watch}. */
  watch(prefix: string, opts: WatchOptions): Watch {
    return watchEtcdPrefix(this.#client, prefix, opts)
  }

  /** compact: see {@link Store.compact}. Compacting at or below an earlier compaction is a no-op. */
  async compact(revision: bigint): Promise<void> {
    try {
      await this.wrap(() => this.#client.kv.compact({revision: revision.toString(), physical: true}), revision)
    } catch (err) {
      if (!isCompactedError(err)) throw err
    }
  }

  /** wrap runs one etcd call and maps its failure to a coded UserError (`revision`: the revision the call reads at, for messages). */
  private async wrap<T>(fn: () => Promise<T>, revision?: bigint): Promise<T> {
    const started = performance.now()
    try {
      return await fn()
    } catch (err) {
      throw toStoreError(err, this.conn, revision, performance.now() - started)
    }
  }
}

/** toStoreError adds the store-level codes (NOT_FOUND lease, compacted/future revision) to etcd's connection and auth codes. */
function toStoreError(err: unknown, conn: ConnectionConfig, revision: bigint | undefined, elapsedMs: number): unknown {
  if (err instanceof etcd.EtcdLeaseInvalidError) return new UserError('NOT_FOUND', 'the lease does not exist (it expired or was revoked)', 'grant a new lease', {cause: err})
  const msg = err instanceof Error ? err.message : ''
  if (/required revision has been compacted/.test(msg)) return compactedError(revision ?? 0n)
  if (/required revision is a future revision/.test(msg)) return futureRevisionError(revision ?? 0n)
  return toEtcdUserError(err, conn, elapsedMs)
}

function compareArgs(c: Compare): ['Mod' | 'Create', '==', string] {
  return 'modRevision' in c ? ['Mod', '==', c.modRevision.toString()] : ['Create', '==', c.createRevision.toString()]
}

/**
 * alwaysTrue is the guard of a transaction without compares (etcd3 needs one): a key the
 * transaction writes anyway has a mod revision below the largest int64, present or absent.
 * It must be such a key: a user whose role covers only the cluster's prefix may not read
 * (so not compare) any other key.
 */
function alwaysTrue(txn: Txn): [string, 'Mod', '<', string] {
  const key = txn.puts?.[0]?.key ?? txn.deletes?.[0] ?? txn.deletePrefixes?.[0] ?? '/shardctl/'
  return [key, 'Mod', '<', '9223372036854775807']
}

function toStored(kv: etcd.IKeyValue): StoredValue {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    modRevision: BigInt(kv.mod_revision),
    createRevision: BigInt(kv.create_revision),
    version: BigInt(kv.version),
    lease: String(kv.lease),
  }
}
