import {type CensusCounts} from './censusCounts.js'
import {getMeta} from './clusterRepo.js'
import {type ServiceContext} from './serviceContext.js'
import {recountCensus} from './shardCensus.js'

/** CensusRecount is what `cluster recount` reports; stable with --json. */
export interface CensusRecount {
  cluster: string
  revision: string
  shards: number
  moving: number
  replicasByNode: Record<string, number>
  /** previous: `absent` (no census yet), `exact` (it matched the recount), or the differences found and corrected. */
  previous: 'absent' | 'exact' | string[]
}

/** censusDifferences names every count where `stored` differs from `recounted` (empty when equal). */
export function censusDifferences(stored: CensusCounts, recounted: CensusCounts): string[] {
  const out: string[] = []
  if (stored.shards !== recounted.shards) out.push(`shards ${stored.shards} -> ${recounted.shards}`)
  if (stored.moving !== recounted.moving) out.push(`moving ${stored.moving} -> ${recounted.moving}`)
  for (const [label, a, b] of [['voters', stored.byVoters, recounted.byVoters], ['replicas on', stored.replicasByNode, recounted.replicasByNode]] as const) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      if ((a[k] ?? 0) !== (b[k] ?? 0)) out.push(`${label} ${k}: ${a[k] ?? 0} -> ${b[k] ?? 0}`)
    }
  }
  const sets = voterSetDifference(stored.byVoterSet, recounted.byVoterSet)
  if (sets) out.push(sets)
  return out
}

/**
 * voterSetDifference says in one line how the voter-set histograms differ (undefined when
 * equal): up to 20,000 sets, so it counts the differing sets rather than listing them.
 */
function voterSetDifference(a: Record<string, number> | undefined, b: Record<string, number> | undefined): string | undefined {
  if (!a && !b) return undefined
  if (!a || !b) return `voter-set histogram ${a ? `of ${Object.keys(a).length} sets` : 'absent'} -> ${b ? `${Object.keys(b).length} sets` : 'absent'}`
  let differ = 0
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) if ((a[k] ?? 0) !== (b[k] ?? 0)) differ++
  return differ === 0 ? undefined : `voter sets: ${differ} differ`
}

/** recountClusterCensus rebuilds the census of an existing cluster (NOT_FOUND otherwise, changing nothing) and reports what it corrected. */
export async function recountClusterCensus(ctx: ServiceContext): Promise<CensusRecount> {
  await getMeta(ctx)
  const {counts, previous, revision} = await recountCensus(ctx)
  const diff = previous ? censusDifferences(previous, counts) : []
  return {cluster: ctx.cluster, revision: revision.toString(), shards: counts.shards, moving: counts.moving, replicasByNode: counts.replicasByNode, previous: previous === undefined ? 'absent' : diff.length === 0 ? 'exact' : diff}
}
