import {addCounts, type CensusCounts, CensusCountsSchema, emptyCounts} from '../cluster/censusCounts.js'

/**
 * The shard census as the TUI follows it from etcd's watch (pure, no I/O): `census/base`
 * (counts valid at revision `asOf`) plus the delta keys written after it, so `top` shows
 * shard, moving and per-node replica counts from a few small keys instead of the shard map
 * (see src/cluster/shardCensus.ts for the layout). A fold puts a new base and then deletes
 * the deltas it counted; deltas at or below the base's `asOf` are dropped when that base
 * arrives, so the counts stay exact through folds whatever order the deletes come in.
 */

/** TopCensus is the census state: base and pending deltas, and their sum (null before a base was seen). */
export interface TopCensus {
  asOf: bigint
  base: CensusCounts | null
  /** deltas are the pending delta keys created after `asOf`, by key, with the revision that created them. */
  deltas: ReadonlyMap<string, {revision: bigint; counts: CensusCounts}>
  /** counts is base + deltas: the census now (null while no base is known, e.g. a cluster from before the census). */
  counts: CensusCounts | null
}

/** emptyTopCensus is the census before anything was read. */
export function emptyTopCensus(): TopCensus {
  return {asOf: 0n, base: null, deltas: new Map(), counts: null}
}

function sum(base: CensusCounts | null, deltas: ReadonlyMap<string, {counts: CensusCounts}>): CensusCounts | null {
  if (!base) return null
  const total = structuredClone(base)
  for (const d of deltas.values()) addCounts(total, d.counts)
  return total
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw)
  } catch {
    return undefined
  }
}

/** parseBase reads a `census/base` value; undefined when it is not one. */
export function parseBase(raw: string): {asOf: bigint; counts: CensusCounts} | undefined {
  const v = parseJson(raw) as {asOf?: unknown; counts?: unknown} | undefined
  const counts = CensusCountsSchema.safeParse(v?.counts)
  if (typeof v?.asOf !== 'string' || !/^\d+$/.test(v.asOf) || !counts.success) return undefined
  return {asOf: BigInt(v.asOf), counts: counts.data}
}

/**
 * applyCensusKey folds one census key change into `census`: `isBase` for `census/base`,
 * otherwise a delta; `value` null for a delete; `revision` is the revision that created the
 * key (a delta is never rewritten, so its put's revision is its create revision). Returns
 * the new census, or undefined when the value is not a census value (the caller logs it).
 */
export function applyCensusKey(census: TopCensus, key: string, isBase: boolean, value: string | null, revision: bigint): TopCensus | undefined {
  if (isBase) {
    if (value === null) return emptyTopCensus()
    const base = parseBase(value)
    if (!base) return undefined
    const deltas = new Map([...census.deltas].filter(([, d]) => d.revision > base.asOf))
    return {asOf: base.asOf, base: base.counts, deltas, counts: sum(base.counts, deltas)}
  }
  if (value === null) {
    const gone = census.deltas.get(key)
    if (!gone) return census
    const deltas = new Map(census.deltas)
    deltas.delete(key)
    return {...census, deltas, counts: sum(census.base, deltas)}
  }
  const d = CensusCountsSchema.safeParse(parseJson(value))
  if (!d.success) return undefined
  // A delta at or below the base's revision is already counted in it (a fold's leftover).
  if (census.base && revision <= census.asOf) return census
  const deltas = new Map(census.deltas)
  deltas.set(key, {revision, counts: d.data})
  const counts = census.counts ? addCounts(structuredClone(census.counts), d.data) : null
  return {...census, deltas, counts}
}

/** censusCountsOrEmpty returns the counts, or empty counts when no census is known. */
export function censusCountsOrEmpty(census: TopCensus): CensusCounts {
  return census.counts ?? emptyCounts()
}
