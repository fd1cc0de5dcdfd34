import {type z} from 'zod'
import {isUserError, UserError} from '../errors/errors.js'
import {decodeStored} from './decodeStored.js'
import {
  LIST_PAGE_SIZE,
  MAX_TXN_OPS,
  type LeaseHandle,
  type ListOptions,
  type Page,
  type PageQuery,
  type Store,
  type StoredValue,
  type StoreTarget,
  type Txn,
  type Typed,
  type Watch,
  type WatchOptions,
} from './store.js'

/**
 * StoreBase derives the convenience half of {@link Store} (validated reads, the paged
 * list loop, create/update/put/delete as transactions) from the primitives each
 * implementation provides, so etcd and the memory twin cannot drift apart on them.
 */
export abstract class StoreBase implements Store {
  abstract readonly conn: StoreTarget
  abstract close(): void
  abstract revision(): Promise<bigint>
  abstract getAt(key: string, revision?: bigint): Promise<{kv: StoredValue | undefined; revision: bigint}>
  abstract listPage(prefix: string, query: PageQuery): Promise<Page>
  abstract commit(txn: Txn): Promise<bigint | undefined>
  abstract grantLease(ttlSeconds: number): Promise<LeaseHandle>
  abstract revokeLease(id: string): Promise<void>
  abstract watch(prefix: string, opts: WatchOptions): Watch
  abstract compact(revision: bigint): Promise<void>

  /** ping: see {@link Store.ping}. */
  async ping(): Promise<bigint> {
    return this.revision()
  }

  /** serverVersion: see {@link Store.serverVersion}; a store with no server has none. */
  async serverVersion(): Promise<string | undefined> {
    return undefined
  }

  /** get: see {@link Store.get}. */
  async get(key: string): Promise<StoredValue | undefined> {
    return (await this.getAt(key)).kv
  }

  /** getTyped: see {@link Store.getTyped}. */
  async getTyped<S extends z.ZodType>(key: string, schema: S): Promise<Typed<z.output<S>> | undefined> {
    const raw = await this.get(key)
    return raw ? decodeStored(raw, schema) : undefined
  }

  /** list: see {@link Store.list}. Every page after the first is read at the first page's revision. */
  async list(prefix: string, opts: ListOptions = {}): Promise<{items: StoredValue[]; revision: bigint}> {
    const items: StoredValue[] = []
    let revision = opts.revision ?? 0n
    for await (const page of this.scan(prefix, opts)) {
      items.push(...page.items)
      revision = page.revision
    }
    return {items, revision}
  }

  /** scan: see {@link Store.scan}. */
  async *scan(prefix: string, opts: ListOptions = {}): AsyncGenerator<{items: StoredValue[]; revision: bigint}> {
    const limit = opts.pageSize ?? LIST_PAGE_SIZE
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`page size must be a positive integer, got ${limit}`)
    let revision = opts.revision
    let after: string | undefined
    for (;;) {
      const page = await this.listPage(prefix, {after, limit, revision, from: opts.from, end: opts.end})
      revision ??= page.revision
      yield {items: page.items, revision}
      if (!page.more || page.items.length === 0) return
      after = page.items[page.items.length - 1]!.key
    }
  }

  /** listTyped: see {@link Store.listTyped}. */
  async listTyped<S extends z.ZodType>(prefix: string, schema: S, opts?: ListOptions): Promise<{items: Typed<z.output<S>>[]; revision: bigint}> {
    const {items, revision} = await this.list(prefix, opts)
    return {items: items.map((kv) => decodeStored(kv, schema)), revision}
  }

  /** create: see {@link Store.create}. */
  async create(key: string, value: string, lease?: string): Promise<bigint> {
    const ok = await this.commit({compares: [{key, createRevision: 0n}], puts: [{key, value, lease}]})
    if (ok === undefined) throw new UserError('ALREADY_EXISTS', `${key} already exists`)
    return ok
  }

  /** update: see {@link Store.update}. */
  async update(key: string, value: string, expected: bigint): Promise<bigint> {
    const ok = await this.commit({compares: [{key, modRevision: expected}], puts: [{key, value}]})
    if (ok === undefined) throw new UserError('CONFLICT', `${key} changed concurrently (expected revision ${expected})`, 'read it again and retry')
    return ok
  }

  /** put: see {@link Store.put}. */
  async put(key: string, value: string, lease?: string): Promise<bigint> {
    return (await this.commit({compares: [], puts: [{key, value, lease}]}))!
  }

  /** delete: see {@link Store.delete}. */
  async delete(key: string, expected?: bigint): Promise<void> {
    const ok = await this.commit({compares: expected === undefined ? [] : [{key, modRevision: expected}], deletes: [key]})
    if (ok === undefined) throw new UserError('CONFLICT', `${key} changed concurrently`, 'read it again and retry')
  }
}

/** checkTxnSize throws RangeError when `txn` has more operations than etcd accepts (a caller's bug, the same on every store). */
export function checkTxnSize(txn: Txn): void {
  const ops = (txn.puts?.length ?? 0) + (txn.deletes?.length ?? 0) + (txn.deletePrefixes?.length ?? 0)
  if (ops > MAX_TXN_OPS) throw new RangeError(`transaction has ${ops} operations; etcd allows ${MAX_TXN_OPS}`)
}

/** compactedError is the CONFLICT a read at a compacted revision throws, on every store. */
export function compactedError(revision: bigint, compactRevision?: bigint): UserError {
  const oldest = compactRevision === undefined ? '' : ` (history starts at ${compactRevision})`
  return new UserError('CONFLICT', `revision ${revision} has been compacted${oldest}`, 'read again at the current revision')
}

/** COMPACTED matches {@link compactedError}'s message (and only it: other CONFLICTs are failed compares). */
const COMPACTED = /^revision \d+ has been compacted/

/**
 * isCompactedError tells whether `err` is a {@link compactedError}, from any store: the
 * revision the read was pinned to is gone, so the same read can only succeed at a newer one.
 */
export function isCompactedError(err: unknown): err is UserError {
  return isUserError(err, 'CONFLICT') && COMPACTED.test(err.message)
}

/** futureRevisionError is the BAD_INPUT a read at a revision not yet written throws, on every store. */
export function futureRevisionError(revision: bigint, current?: bigint): UserError {
  const now = current === undefined ? '' : ` (the current revision is ${current})`
  return new UserError('BAD_INPUT', `revision ${revision} is in the future${now}`, 'pass a revision the store has reached')
}
