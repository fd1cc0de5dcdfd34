import {isCompactedError} from '../store/storeBase.js'
import {compareHolds, type StoredValue, type Txn} from '../store/store.js'

/** KeyRead is one key of a state as read (undefined: absent). */
export type KeyRead = StoredValue | undefined

/**
 * putsLandedAt returns the revision X at which every put of `txn` is found exactly as `txn`
 * writes it (same value, same lease or none, all at one mod revision X, since one transaction
 * writes all its keys at one revision), reading each put key's current state through `now`;
 * undefined when `txn` has no put or any put key differs (absent, another value, another
 * lease, another revision). Pure.
 */
export function putsLandedAt(txn: Txn, now: (key: string) => KeyRead): bigint | undefined {
  const puts = txn.puts ?? []
  let at: bigint | undefined
  for (const p of puts) {
    const kv = now(p.key)
    if (!kv || kv.value !== p.value || kv.lease !== (p.lease ?? '0')) return undefined
    if (at !== undefined && kv.modRevision !== at) return undefined
    at = kv.modRevision
  }
  return at
}

/**
 * OwnCommitReads is what {@link findOwnCommit} reads from the store: the current revision, one
 * key now or at a revision (a compacted revision throws the store's compactedError), and
 * whether a prefix holds any key at a revision.
 */
export interface OwnCommitReads {
  revision(): Promise<bigint>
  getAt(key: string, revision?: bigint): Promise<{kv: KeyRead; revision: bigint}>
  anyUnder(prefix: string, revision: bigint): Promise<boolean>
}

/**
 * findOwnCommit decides, after `txn` was sent more than once (an attempt failed on the
 * connection and was resent) and the last attempt failed its compares, whether an earlier
 * attempt landed: it returns the revision that attempt landed at, or undefined (a genuine
 * conflict, or nothing left to prove it). Throws what the reads throw (ETCD_UNREACHABLE: the
 * outcome stays unknown).
 *
 * With puts: it landed at X when every put key is found as `txn` wrote it at one revision X
 * (putsLandedAt), every deleted key and prefix was empty at X, and every compare held at X-1
 * (the state just before). Then the store went from a state `txn`'s compares accept to exactly
 * its writes in one revision: that is `txn` committing, or an identical transaction of someone
 * else's whose outcome no reader can tell from it (callers that must tell write a token of
 * their own, as the lock does with its lease). A put key changed again since, or a compare
 * state compacted away, proves nothing and is reported as the conflict etcd answered.
 *
 * Without puts (deletes only): landed when every deleted key and prefix is empty now — the
 * effect the caller asked for holds, by this attempt or by a later change — at the current revision.
 */
export async function findOwnCommit(txn: Txn, reads: OwnCommitReads): Promise<bigint | undefined> {
  const puts = txn.puts ?? []
  const deletes = txn.deletes ?? []
  const prefixes = txn.deletePrefixes ?? []
  if (puts.length === 0) {
    const at = await reads.revision()
    for (const k of deletes) if ((await reads.getAt(k, at)).kv !== undefined) return undefined
    for (const p of prefixes) if (await reads.anyUnder(p, at)) return undefined
    return at
  }
  // Every put key at one revision (the first read's), so a write racing the reads cannot mix two states.
  const first = await reads.getAt(puts[0]!.key)
  const now = new Map<string, KeyRead>([[puts[0]!.key, first.kv]])
  await Promise.all(puts.slice(1).map(async (p) => now.set(p.key, (await reads.getAt(p.key, first.revision)).kv)))
  const at = putsLandedAt(txn, (k) => now.get(k))
  if (at === undefined) return undefined
  try {
    const [deleted, emptied, held] = await Promise.all([
      Promise.all(deletes.map(async (k) => (await reads.getAt(k, at)).kv === undefined)),
      Promise.all(prefixes.map(async (p) => !(await reads.anyUnder(p, at)))),
      Promise.all(txn.compares.map(async (c) => compareHolds(c, (await reads.getAt(c.key, at - 1n)).kv))),
    ])
    if (![...deleted, ...emptied, ...held].every(Boolean)) return undefined
  } catch (err) {
    // The state at or before X was compacted: nothing proves the write ours.
    if (isCompactedError(err)) return undefined
    throw err
  }
  return at
}
