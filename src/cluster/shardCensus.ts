import {randomUUID} from 'node:crypto'
import {UserError} from '../errors/errors.js'
import {type Shard, ShardSchema} from '../model/shard.js'
import {MAX_TXN_OPS, type StoredValue} from '../store/store.js'
import {addCounts, type CensusCounts, CensusCountsSchema, countShards, emptyCounts, isZero, shardDelta, underReplicatedOf} from './censusCounts.js'
import {type ServiceContext} from './serviceContext.js'
import {lightReplicas, replicaCensus} from './shardScan.js'

/**
 * The shard census kept in etcd, exact at every revision, so status views read a few small
 * keys instead of 100k shard records.
 *
 * Layout under `census/`: `base` holds counts valid at revision `asOf`; every shard write
 * adds, in the same transaction, a delta key `d/<uuid>` (created at that write's revision).
 * The census at revision R is base + the deltas created after `asOf`, read together at R.
 * Writers never compare or rewrite a shared counter, so concurrent moves do not conflict
 * on it; the base only changes in {@link foldCensus} and {@link recountCensus}, both CAS on
 * the base. Deltas at or below `asOf` are already counted and removed afterwards, in any
 * order and any number of transactions, without changing the result.
 *
 * Every writer of shard records goes through {@link shardWritePuts} (moves, splits) or
 * writes the base with the layout (cluster init); a test greps that nothing else does.
 */

/** CensusBase is the stored `census/base` value. */
interface CensusBase {
  asOf: string
  counts: CensusCounts
}

/** ShardWrite is one shard record a transaction writes: `before` as read (fenced by the caller's compare), `after` to store. */
export interface ShardWrite {
  before: Shard | undefined
  after: Shard
}

/**
 * shardWritePuts returns the puts for `writes`: each shard record, plus the census delta
 * they make (none when no count changes). The caller puts them all in ONE transaction that
 * compares each shard's revision as read, so the delta is exact exactly when the write lands.
 */
export function shardWritePuts(ctx: ServiceContext, writes: readonly ShardWrite[]): {key: string; value: string}[] {
  const delta = emptyCounts()
  const puts = writes.map((w) => {
    addCounts(delta, shardDelta(w.before, w.after))
    return {key: ctx.keys.shard(w.after.id), value: JSON.stringify(ShardSchema.parse(w.after))}
  })
  if (!isZero(delta)) puts.push({key: ctx.keys.censusDelta(randomUUID()), value: JSON.stringify(delta)})
  return puts
}

/** censusBasePut is the base to write with a freshly initialised layout: its counts, valid from revision `asOf` on. */
export function censusBasePut(ctx: ServiceContext, shards: readonly Shard[], asOf: bigint): {key: string; value: string} {
  return {key: ctx.keys.censusBase, value: JSON.stringify({asOf: asOf.toString(), counts: countShards(shards)} satisfies CensusBase)}
}

/** StoredCensus is the census as read at one revision. */
export interface StoredCensus {
  counts: CensusCounts
  revision: bigint
  /** pendingDeltas counts the deltas not yet folded into the base (a fold is due when it grows). */
  pendingDeltas: number
}

interface CensusRead {
  base: StoredValue | undefined
  asOf: bigint
  counts: CensusCounts
  /** live are the deltas created after asOf (counted); stale the ones at or before (already in the base). */
  live: StoredValue[]
  stale: StoredValue[]
  revision: bigint
}

function corrupt(key: string, what: string): UserError {
  return new UserError('CORRUPT_VALUE', `${key} is not a census ${what}`, 'rebuild the census with `shardctl cluster recount`')
}

function parseJson(kv: StoredValue, what: string): unknown {
  try {
    return JSON.parse(kv.value)
  } catch {
    throw corrupt(kv.key, what)
  }
}

/** readRaw reads base and deltas at one revision (`revision`, default the current one). */
async function readRaw(ctx: ServiceContext, revision?: bigint): Promise<CensusRead | undefined> {
  const {items, revision: rev} = await ctx.store.list(ctx.keys.censusPrefix, revision === undefined ? {} : {revision})
  const base = items.find((kv) => kv.key === ctx.keys.censusBase)
  if (!base) return {base: undefined, asOf: 0n, counts: emptyCounts(), live: [], stale: [], revision: rev}
  const parsed = parseJson(base, 'base') as {asOf?: unknown; counts?: unknown}
  const counts = CensusCountsSchema.safeParse(parsed.counts)
  if (typeof parsed.asOf !== 'string' || !/^\d+$/.test(parsed.asOf) || !counts.success) throw corrupt(base.key, 'base')
  const asOf = BigInt(parsed.asOf)
  const read: CensusRead = {base, asOf, counts: counts.data, live: [], stale: [], revision: rev}
  for (const kv of items) {
    if (kv === base) continue
    ;(kv.createRevision > asOf ? read.live : read.stale).push(kv)
  }
  return read
}

function sumLive(read: CensusRead): CensusCounts {
  const total = structuredClone(read.counts)
  for (const kv of read.live) {
    const d = CensusCountsSchema.safeParse(parseJson(kv, 'delta'))
    if (!d.success) throw corrupt(kv.key, 'delta')
    addCounts(total, d.data)
  }
  return total
}

/**
 * readCensus returns the census at the current revision from base and deltas (a few keys,
 * never the shard map), or undefined for a cluster written before the census existed (no
 * base: callers fall back to counting the map, and `cluster recount` creates it).
 * Throws CORRUPT_VALUE naming a bad census key.
 */
export async function readCensus(ctx: ServiceContext): Promise<StoredCensus | undefined> {
  const read = await readRaw(ctx)
  if (!read?.base) return undefined
  return {counts: sumLive(read), revision: read.revision, pendingDeltas: read.live.length + read.stale.length}
}

/** removeStale deletes deltas already counted in a base; harmless if another caller already did. */
async function removeStale(ctx: ServiceContext, stale: readonly StoredValue[]): Promise<void> {
  for (let i = 0; i < stale.length; i += MAX_TXN_OPS) {
    await ctx.store.commit({compares: [], deletes: stale.slice(i, i + MAX_TXN_OPS).map((kv) => kv.key)})
  }
}

/**
 * foldCensus moves the pending deltas into the base (CAS on the base: a concurrent fold or
 * recount wins and this one reports 0), then deletes them. Returns how many deltas it folded.
 * Safe at any time beside shard writers: deltas written after the read stay pending.
 */
export async function foldCensus(ctx: ServiceContext): Promise<number> {
  const read = await readRaw(ctx)
  if (!read?.base) return 0
  if (read.live.length > 0) {
    const next: CensusBase = {asOf: read.revision.toString(), counts: sumLive(read)}
    const rev = await ctx.store.commit({compares: [{key: read.base.key, modRevision: read.base.modRevision}], puts: [{key: ctx.keys.censusBase, value: JSON.stringify(next)}]})
    if (rev === undefined) return 0
  }
  await removeStale(ctx, [...read.stale, ...read.live])
  return read.live.length
}

/**
 * CENSUS_FOLD_THRESHOLD is how many pending delta keys make any process that reads the
 * census fold it (`cluster status`, the autopilot's checks, a starting executor), so the
 * keys stay bounded when no executor runs to fold them every 10 s (one died mid-plan, or
 * only hand-written changes happen). 1,000 deltas are ~200 KiB and fold in about 10 txns.
 */
export const CENSUS_FOLD_THRESHOLD = 1000

/**
 * foldCensusIfDue folds the census when more than `threshold` deltas are pending
 * (`pending`: what the caller just read, e.g. {@link StoredCensus.pendingDeltas}; undefined
 * reads it). Safe beside a concurrent fold or recount (the base CAS: the loser folds
 * nothing, see {@link foldCensus}). Best effort, for readers: a failed fold (a read-only
 * etcd user, etcd gone) leaves the deltas and returns 0. Returns how many deltas it folded.
 */
export async function foldCensusIfDue(ctx: ServiceContext, pending?: number, threshold = CENSUS_FOLD_THRESHOLD): Promise<number> {
  try {
    const count = pending ?? (await readCensus(ctx))?.pendingDeltas ?? 0
    return count > threshold ? await foldCensus(ctx) : 0
  } catch {
    return 0
  }
}

/**
 * recountCensus rebuilds the census from the shard map: it counts every shard at one
 * revision R and stores that as the base valid at R (CAS on the base as read at R; retried
 * when a fold or another recount got there first). The repair path for a census that is
 * missing (a cluster from before it) or suspected wrong. Returns the counts stored and what
 * the stored census said at the same revision (`previous`, undefined when there was none), so
 * a caller can tell an exact census from a corrected one.
 */
export async function recountCensus(ctx: ServiceContext): Promise<{counts: CensusCounts; previous: CensusCounts | undefined; revision: bigint}> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const revision = await ctx.store.revision()
    const counts = emptyCounts()
    for await (const page of ctx.store.scan(ctx.keys.shardsPrefix, {revision})) {
      for (const kv of page.items) addCounts(counts, shardDelta(undefined, lightReplicas(kv.key, kv.value)))
    }
    const read = await readRaw(ctx, revision)
    const compare = read?.base ? {key: ctx.keys.censusBase, modRevision: read.base.modRevision} : {key: ctx.keys.censusBase, createRevision: 0n}
    const next: CensusBase = {asOf: revision.toString(), counts}
    if ((await ctx.store.commit({compares: [compare], puts: [{key: ctx.keys.censusBase, value: JSON.stringify(next)}]})) === undefined) continue
    await removeStale(ctx, [...(read?.live ?? []), ...(read?.stale ?? [])])
    return {counts, previous: read?.base ? sumLive(read) : undefined, revision}
  }
  throw new UserError('CONFLICT', 'the census kept changing while it was recounted (another recount or fold ran)', 'retry `shardctl cluster recount`')
}

/** ShardCounts is what status views show, from the stored census or (a cluster without one) a count of the map. */
export interface ShardCounts {
  shards: number
  moving: number
  underReplicated: number
  replicasByNode: Map<string, number>
  /** byVoterSet is the census's voter-set histogram (see CensusCounts), undefined when unknown or counted by a scan. */
  byVoterSet?: Record<string, number>
  revision: bigint
  /** source says where the counts came from: the stored census, or a full scan of the shard map. */
  source: 'census' | 'scan'
  /** pendingDeltas counts the census deltas not yet folded (0 for a scan). */
  pendingDeltas: number
}

/**
 * shardCounts returns the shard counts for status views: from the stored census (a few
 * keys) when the cluster has one, else by counting the whole map ({@link replicaCensus}).
 */
export async function shardCounts(ctx: ServiceContext, rf: number): Promise<ShardCounts> {
  const stored = await readCensus(ctx)
  if (stored) {
    const c = stored.counts
    return {shards: c.shards, moving: c.moving, underReplicated: underReplicatedOf(c, rf), replicasByNode: new Map(Object.entries(c.replicasByNode)), byVoterSet: c.byVoterSet, revision: stored.revision, source: 'census', pendingDeltas: stored.pendingDeltas}
  }
  const scanned = await replicaCensus(ctx, rf)
  return {shards: scanned.shards, moving: scanned.moving, underReplicated: scanned.underReplicated, replicasByNode: scanned.replicasByNode, revision: scanned.revision, source: 'scan', pendingDeltas: 0}
}
