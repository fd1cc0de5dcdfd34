import {readFileSync} from 'node:fs'
import * as etcd from 'etcd3'
import {type z} from 'zod'
import {type ConnectionConfig} from '../config/connectionConfig.js'
import {UserError} from '../errors/errors.js'
import {formatZodIssue} from '../model/zodIssues.js'
import {toEtcdUserError} from './etcdErrors.js'

/** StoredValue is a raw value read from etcd with the revisions CAS and fencing need. */
export interface StoredValue {
  key: string
  value: string
  modRevision: bigint
  createRevision: bigint
  lease: string
}

/** Typed is a validated value with its revisions. */
export interface Typed<T> extends Omit<StoredValue, 'value'> {
  value: T
}

/** Compare is one guard of a transaction: a key's mod revision equals a value (0n = absent), or its create revision does. */
export type Compare = {key: string; modRevision: bigint} | {key: string; createRevision: bigint}

/** Txn is an all-or-nothing change: when every compare holds, every put and delete happens. */
export interface Txn {
  compares: Compare[]
  puts?: {key: string; value: string; lease?: string}[]
  deletes?: string[]
  /** deletePrefixes removes whole key ranges (for `cluster init --force`). */
  deletePrefixes?: string[]
}

/** MAX_TXN_OPS is etcd's default limit on operations per transaction (--max-txn-ops). */
export const MAX_TXN_OPS = 128

/**
 * LIST_PAGE_SIZE bounds one range response (10,000 shard records are about 3 MiB, below the
 * 64 MiB we let gRPC receive). Pages are large because etcd 3.4 counts every key left in the
 * range on each page: 100k shards took 100 pages of ~140 ms each at 1,000 a page (see bench:scale).
 */
export const LIST_PAGE_SIZE = 10_000

const UNARY_TIMEOUT_MS = Number(process.env.SHARDCTL_ETCD_TIMEOUT_MS ?? 5000)

/**
 * etcdClientOptions builds etcd3 options from a resolved connection: TLS material, auth,
 * gRPC keepalive while calls are open (so silent half-open watch streams are detected
 * within about 15 s; see STACK.md) and a
 * deadline on every unary call, so an unreachable etcd fails fast instead of hanging.
 */
export function etcdClientOptions(conn: ConnectionConfig): etcd.IOptions {
  const opts: etcd.IOptions = {
    hosts: conn.endpoints,
    dialTimeout: UNARY_TIMEOUT_MS,
    // etcd's server allows a ping at most every 5 s (--grpc-keepalive-min-time) and none
    // while no call is open: pinging an idle connection, or at exactly 5 s with jitter, earns
    // a GOAWAY "too_many_pings" that drops the connection and every watch on it.
    grpcOptions: {
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5000,
      'grpc.keepalive_permit_without_calls': 0,
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : {deadline: Date.now() + UNARY_TIMEOUT_MS}),
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
 * EtcdStore is the narrow store shardctl's services use: validated reads, paged listing,
 * CAS writes, transactions, leases and watches. It is the only place that calls etcd3;
 * every failure reaching a caller is a UserError with a code (see etcdErrors.ts) or a bug.
 */
export class EtcdStore {
  readonly client: etcd.Etcd3

  constructor(readonly conn: ConnectionConfig) {
    this.client = new etcd.Etcd3(etcdClientOptions(conn))
  }

  /** close releases the client's connections; pending watches end. */
  close(): void {
    this.client.close()
  }

  /** wrap runs one etcd call and maps its failure to a coded UserError. */
  async wrap<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      throw toEtcdUserError(err, this.conn)
    }
  }

  /** ping checks that etcd answers (and accepts the credentials). Throws ETCD_UNREACHABLE or ETCD_AUTH. */
  async ping(): Promise<bigint> {
    return this.revision()
  }

  /** revision returns etcd's current revision. */
  async revision(): Promise<bigint> {
    const res = await this.wrap(() => this.client.get('/shardctl/').exec())
    return BigInt(res.header.revision)
  }

  /** get reads one key; undefined when absent. */
  async get(key: string): Promise<StoredValue | undefined> {
    const res = await this.wrap(() => this.client.get(key).exec())
    const kv = res.kvs[0]
    return kv ? toStored(kv) : undefined
  }

  /**
   * getAt reads one key and returns it (undefined when absent) with the revision the read
   * was served at, so a caller can tell "absent at revision R" from a stale answer.
   */
  async getAt(key: string): Promise<{kv: StoredValue | undefined; revision: bigint}> {
    const res = await this.wrap(() => this.client.get(key).exec())
    const kv = res.kvs[0]
    return {kv: kv ? toStored(kv) : undefined, revision: BigInt(res.header.revision)}
  }

  /**
   * getTyped reads and validates one key. Throws UserError(CORRUPT_VALUE) naming the key
   * and the failing field when the value is not JSON or fails `schema`.
   */
  async getTyped<S extends z.ZodType>(key: string, schema: S): Promise<Typed<z.output<S>> | undefined> {
    const raw = await this.get(key)
    return raw ? decodeStored(raw, schema) : undefined
  }

  /**
   * list returns every key under `prefix` in key order, read page by page at one pinned
   * revision (a consistent view however large the prefix), with that revision.
   */
  async list(prefix: string, pageSize = LIST_PAGE_SIZE): Promise<{items: StoredValue[]; revision: bigint}> {
    const items: StoredValue[] = []
    let revision = 0n
    for await (const page of this.scan(prefix, pageSize)) {
      items.push(...page.items)
      revision = page.revision
    }
    return {items, revision}
  }

  /**
   * scan yields the keys under `prefix` in key order one page at a time, every page read at
   * the revision of the first (a consistent view), so a caller can fold a prefix of any size
   * in memory bounded by one page. An empty prefix yields one empty page.
   */
  async *scan(prefix: string, pageSize = LIST_PAGE_SIZE): AsyncGenerator<{items: StoredValue[]; revision: bigint}> {
    const end = prefixEnd(prefix)
    let start = prefix
    let revision: string | undefined
    for (;;) {
      // No sort option: a range comes back in key order anyway, and with one etcd reads the
      // whole rest of the range before applying the limit (100k shards: 62 s instead of 14 s).
      const builder = this.client.getAll().inRange({start, end}).limit(pageSize)
      if (revision) builder.revision(revision)
      const res = await this.wrap(() => builder.exec())
      revision ??= res.header.revision
      const items = res.kvs.map(toStored)
      yield {items, revision: BigInt(revision)}
      if (!res.more || items.length === 0) return
      start = `${items[items.length - 1]!.key}\0`
    }
  }

  /** listTyped lists and validates every value under `prefix` (CORRUPT_VALUE names the first bad key). */
  async listTyped<S extends z.ZodType>(prefix: string, schema: S, pageSize?: number): Promise<{items: Typed<z.output<S>>[]; revision: bigint}> {
    const {items, revision} = await this.list(prefix, pageSize)
    return {items: items.map((kv) => decodeStored(kv, schema)), revision}
  }

  /** create writes `key` only if absent. Throws UserError(ALREADY_EXISTS) otherwise. Returns the new mod revision. */
  async create(key: string, value: string, lease?: string): Promise<bigint> {
    const ok = await this.commit({compares: [{key, createRevision: 0n}], puts: [{key, value, lease}]})
    if (ok === undefined) throw new UserError('ALREADY_EXISTS', `${key} already exists`)
    return ok
  }

  /** update writes `key` only if its mod revision is still `expected`. Throws UserError(CONFLICT) otherwise. */
  async update(key: string, value: string, expected: bigint): Promise<bigint> {
    const ok = await this.commit({compares: [{key, modRevision: expected}], puts: [{key, value}]})
    if (ok === undefined) throw new UserError('CONFLICT', `${key} changed concurrently (expected revision ${expected})`, 'read it again and retry')
    return ok
  }

  /** put writes `key` unconditionally (optionally attached to a lease). */
  async put(key: string, value: string, lease?: string): Promise<bigint> {
    const b = this.client.put(key).value(value)
    if (lease) b.lease(lease)
    const res = await this.wrap(() => b.exec())
    return BigInt(res.header.revision)
  }

  /** delete removes `key`; when `expected` is given only if its mod revision still equals it (CONFLICT otherwise). */
  async delete(key: string, expected?: bigint): Promise<void> {
    if (expected === undefined) {
      await this.wrap(() => this.client.delete().key(key).exec())
      return
    }
    const ok = await this.commit({compares: [{key, modRevision: expected}], deletes: [key]})
    if (ok === undefined) throw new UserError('CONFLICT', `${key} changed concurrently`, 'read it again and retry')
  }

  /**
   * commit runs `txn` atomically. Returns the new revision when every compare held, or
   * undefined when one failed (nothing was written). Throws BugError-free UserErrors for
   * etcd failures; a txn over {@link MAX_TXN_OPS} operations is the caller's bug.
   */
  async commit(txn: Txn): Promise<bigint | undefined> {
    const ops = (txn.puts?.length ?? 0) + (txn.deletes?.length ?? 0) + (txn.deletePrefixes?.length ?? 0)
    if (ops > MAX_TXN_OPS) throw new RangeError(`transaction has ${ops} operations; etcd allows ${MAX_TXN_OPS}`)
    const b = this.client.if(txn.compares[0]?.key ?? '\0', ...firstCompare(txn.compares[0]))
    for (const c of txn.compares.slice(1)) b.and(c.key, ...compareArgs(c))
    const thenOps: (etcd.PutBuilder | etcd.DeleteBuilder)[] = []
    for (const p of txn.puts ?? []) {
      const put = this.client.put(p.key).value(p.value)
      if (p.lease) put.lease(p.lease)
      thenOps.push(put)
    }
    for (const d of txn.deletes ?? []) thenOps.push(this.client.delete().key(d))
    for (const d of txn.deletePrefixes ?? []) thenOps.push(this.client.delete().prefix(d))
    const res = await this.wrap(() => b.then(...thenOps).commit())
    return res.succeeded ? BigInt(res.header.revision) : undefined
  }
}

function compareArgs(c: Compare): ['Mod' | 'Create', '==', string] {
  return 'modRevision' in c ? ['Mod', '==', c.modRevision.toString()] : ['Create', '==', c.createRevision.toString()]
}

function firstCompare(c: Compare | undefined): ['Mod' | 'Create', '==', string] {
  // A transaction with no guard: compare a key that never exists to "absent" (always true).
  return c ? compareArgs(c) : ['Create', '==', '0']
}

function toStored(kv: etcd.IKeyValue): StoredValue {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    modRevision: BigInt(kv.mod_revision),
    createRevision: BigInt(kv.create_revision),
    lease: String(kv.lease),
  }
}

/**
 * decodeStored parses and validates a stored JSON value. Throws UserError(CORRUPT_VALUE)
 * naming the key and the first failing field.
 */
export function decodeStored<S extends z.ZodType>(kv: StoredValue, schema: S): Typed<z.output<S>> {
  let json: unknown
  try {
    json = JSON.parse(kv.value)
  } catch {
    throw new UserError('CORRUPT_VALUE', `etcd key ${kv.key} holds invalid JSON (${JSON.stringify(kv.value.slice(0, 40))})`, `inspect it with \`etcdctl get ${kv.key}\`; rewrite it or delete it`)
  }
  const parsed = schema.safeParse(json)
  if (!parsed.success) {
    throw new UserError('CORRUPT_VALUE', `etcd key ${kv.key} is invalid: ${formatZodIssue(parsed.error)}`, `inspect it with \`etcdctl get ${kv.key}\`; rewrite it or delete it`)
  }
  return {...kv, value: parsed.data}
}

/** prefixEnd is the first key after every key starting with `prefix` (etcd's range_end for a prefix). */
export function prefixEnd(prefix: string): string {
  const buf = Buffer.from(prefix)
  for (let i = buf.length - 1; i >= 0; i--) {
    if (buf[i]! < 0xff) {
      buf[i] = buf[i]! + 1
      return buf.subarray(0, i + 1).toString()
    }
  }
  return '\0'
}
