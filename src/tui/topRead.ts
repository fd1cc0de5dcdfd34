import {autopilotKeys} from '../autopilot/autopilotState.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {type KeyValue} from './topState.js'

/**
 * topPrefixes are the key ranges `top` reads: every key it shows, and none of the shard map
 * (`shards/`, 100k records at scale) or the secrets. The census (`census/`) stands in for
 * the shard map: its base and pending deltas are a few small keys.
 */
export function topPrefixes(ctx: ServiceContext): string[] {
  const k = ctx.keys
  return [k.meta, k.control, k.executorLock, autopilotKeys(k.prefix).state, k.nodesPrefix, k.alivePrefix, k.censusPrefix, k.statsPrefix, k.movesPrefix, k.routersPrefix]
}

/**
 * readTopKeys reads what `top` shows at one revision: each of {@link topPrefixes} read at
 * the same revision (concurrently), so the state it seeds is one consistent cut the watch
 * can go on from. Never reads a shard record. Throws ETCD_UNREACHABLE when etcd does not answer.
 */
export async function readTopKeys(ctx: ServiceContext): Promise<{items: KeyValue[]; revision: bigint}> {
  const revision = await ctx.store.revision()
  const reads = await Promise.all(topPrefixes(ctx).map((p) => ctx.store.list(p, {revision})))
  const items: KeyValue[] = []
  for (const r of reads) for (const kv of r.items) items.push({key: kv.key, value: kv.value, revision: kv.createRevision})
  return {items, revision}
}
