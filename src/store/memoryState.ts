import {UserError} from '../errors/errors.js'
import {compareKeys} from './keyRange.js'
import {compareHolds, type StoredValue, type Txn} from './store.js'
import {compactedError, futureRevisionError} from './storeBase.js'

/** KeyRecord is one version of a key in the memory store's history; `kv` undefined marks a delete. */
interface KeyRecord {
  revision: bigint
  kv: StoredValue | undefined
}

/** LoggedEvent is one change in the memory store's event log (what watches replay). */
export interface LoggedEvent {
  revision: bigint
  type: 'put' | 'delete'
  key: string
  value: string
}

/** MemoryLeaseState is a lease of the memory store: the keys attached to it and who to tell when it ends. */
export interface MemoryLeaseState {
  id: string
  ttlSeconds: number
  keys: Set<string>
  ended: boolean
  /** onEnd runs once when the lease ends by expiry or someone else's revoke (not by its holder's own revoke). */
  onEnd: (() => void)[]
}

/**
 * MemoryState is the data behind one or more {@link MemoryStore} clients: etcd's MVCC
 * semantics in memory. One global revision (starting at 1) raised by one per transaction
 * that changes something; per key a createRevision, modRevision and version; history kept
 * for reads at a past revision until compacted; an ordered event log for watches; leases
 * whose end deletes their keys in one revision. Synchronous and deterministic.
 */
export class MemoryState {
  revision = 1n
  compactRevision = 0n
  private readonly history = new Map<string, KeyRecord[]>()
  readonly log: LoggedEvent[] = []
  readonly leases = new Map<string, MemoryLeaseState>()
  private nextLease = 7000n
  /** onCommit listeners run after every revision-raising change (watches schedule delivery). */
  readonly onCommit = new Set<() => void>()
  /** watches are the open watches of every client, so a fault can drop them all. */
  readonly watches = new Set<{prefix: string; drop(opts: {afterEvents?: number; stayDown?: boolean}): void; reconnect(): void}>()

  /** read returns `key` at `revision` (default current). Throws CONFLICT (compacted) or BAD_INPUT (future revision). */
  read(key: string, revision = this.revision): StoredValue | undefined {
    this.checkReadable(revision)
    return valueAt(this.history.get(key), revision)
  }

  /** range returns up to `limit` keys under `prefix` strictly after `after`, at `revision`, in byte order, and whether more follow. */
  range(prefix: string, after: string | undefined, limit: number, revision = this.revision, end?: string, from?: string): {items: StoredValue[]; more: boolean} {
    this.checkReadable(revision)
    const keys = [...this.history.keys()].filter((k) => k.startsWith(prefix) && (after === undefined || compareKeys(k, after) > 0) && (end === undefined || compareKeys(k, end) < 0) && (from === undefined || compareKeys(k, from) >= 0)).sort(compareKeys)
    const items: StoredValue[] = []
    let more = false
    for (const k of keys) {
      const kv = valueAt(this.history.get(k), revision)
      if (!kv) continue
      if (items.length === limit) {
        more = true
        break
      }
      items.push(kv)
    }
    return {items, more}
  }

  /** apply runs `txn` atomically: undefined when a compare fails; else the revision after it. Throws NOT_FOUND for a put to a missing lease, RangeError for a key written twice. */
  apply(txn: Txn): bigint | undefined {
    if (!txn.compares.every((c) => compareHolds(c, this.read(c.key)))) return undefined
    const written = new Set<string>()
    for (const k of [...(txn.puts ?? []).map((p) => p.key), ...(txn.deletes ?? [])]) {
      if (written.has(k)) throw new RangeError(`transaction writes ${k} twice; etcd refuses duplicate keys`)
      written.add(k)
    }
    for (const p of txn.puts ?? []) {
      if (p.lease && p.lease !== '0' && !this.liveLease(p.lease)) throw new UserError('NOT_FOUND', 'the lease does not exist (it expired or was revoked)', 'grant a new lease')
    }
    const next = this.revision + 1n
    const events: LoggedEvent[] = []
    for (const p of txn.puts ?? []) {
      const prev = this.read(p.key)
      const lease = p.lease && p.lease !== '0' ? p.lease : '0'
      const kv: StoredValue = {key: p.key, value: p.value, modRevision: next, createRevision: prev?.createRevision ?? next, version: (prev?.version ?? 0n) + 1n, lease}
      this.record(kv.key, next, kv, prev)
      events.push({revision: next, type: 'put', key: p.key, value: p.value})
    }
    const deleted = [...(txn.deletes ?? []).filter((k) => this.read(k) !== undefined)]
    for (const prefix of txn.deletePrefixes ?? []) deleted.push(...this.range(prefix, undefined, Number.MAX_SAFE_INTEGER).items.map((kv) => kv.key).filter((k) => !deleted.includes(k)))
    for (const key of deleted) {
      this.record(key, next, undefined, this.read(key))
      events.push({revision: next, type: 'delete', key, value: ''})
    }
    if (events.length === 0) return this.revision
    this.revision = next
    this.log.push(...events)
    for (const fn of [...this.onCommit]) fn()
    return next
  }

  /** grant creates a lease and returns its state. */
  grant(ttlSeconds: number): MemoryLeaseState {
    const lease: MemoryLeaseState = {id: String(this.nextLease++), ttlSeconds, keys: new Set(), ended: false, onEnd: []}
    this.leases.set(lease.id, lease)
    return lease
  }

  /** endLease ends lease `id` (expiry or revoke): its keys go in one revision; `notify` tells its holder. No-op for an unknown or ended lease. */
  endLease(id: string, notify: boolean): void {
    const lease = this.leases.get(id)
    if (!lease || lease.ended) return
    lease.ended = true
    this.leases.delete(id)
    if (lease.keys.size) this.apply({compares: [], deletes: [...lease.keys].sort(compareKeys)})
    if (notify) for (const fn of lease.onEnd) fn()
  }

  /** compact drops history before `revision`. Throws BAD_INPUT for a future revision; at or below an earlier compaction it is a no-op. */
  compact(revision: bigint): void {
    if (revision > this.revision) throw futureRevisionError(revision, this.revision)
    if (revision <= this.compactRevision) return
    this.compactRevision = revision
    for (const [key, records] of this.history) {
      // Keep the newest record at or before `revision` (the value readable there) and everything after it.
      let keepFrom = 0
      for (let i = 0; i < records.length; i++) if (records[i]!.revision <= revision) keepFrom = i
      const kept = records.slice(keepFrom)
      if (kept.length === 1 && kept[0]!.kv === undefined && kept[0]!.revision <= revision) this.history.delete(key)
      else this.history.set(key, kept)
    }
    let drop = 0
    while (drop < this.log.length && this.log[drop]!.revision <= revision) drop++
    this.log.splice(0, drop)
  }

  private liveLease(id: string): MemoryLeaseState | undefined {
    const lease = this.leases.get(id)
    return lease && !lease.ended ? lease : undefined
  }

  private record(key: string, revision: bigint, kv: StoredValue | undefined, prev: StoredValue | undefined): void {
    if (prev && prev.lease !== '0') this.leases.get(prev.lease)?.keys.delete(key)
    if (kv && kv.lease !== '0') this.leases.get(kv.lease)?.keys.add(key)
    const records = this.history.get(key) ?? []
    records.push({revision, kv})
    this.history.set(key, records)
  }

  private checkReadable(revision: bigint): void {
    if (revision < this.compactRevision) throw compactedError(revision, this.compactRevision)
    if (revision > this.revision) throw futureRevisionError(revision, this.revision)
  }
}

function valueAt(records: KeyRecord[] | undefined, revision: bigint): StoredValue | undefined {
  if (!records) return undefined
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i]!
    if (r.revision <= revision) return r.kv ? {...r.kv} : undefined
  }
  return undefined
}
