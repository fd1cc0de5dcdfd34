import {type HotShardSchema} from '../model/plan.js'
import {type ActionLog, roundUtil} from './actionLog.js'
import {type ClusterState, RES} from './clusterState.js'
import {loadSplitPoint} from './loadSplit.js'
import {type z} from 'zod'

/** SPLIT_GOAL: split a hot shard until each piece needs at most this fraction of the target on the roomiest node. */
const SPLIT_GOAL = 0.5
/** MAX_SPLIT_DEPTH bounds the halvings of one shard in one plan (2^6 = 64 pieces). */
const MAX_SPLIT_DEPTH = 6

/** HotShard is a summary entry of a plan (see HotShardSchema). */
export type HotShard = z.infer<typeof HotShardSchema>

/**
 * smallestFootprint is a lower bound of the utilisation slot `slot` adds to any receiver:
 * per resource the smallest factor among receivers. Exact when nodes' capacities keep the
 * same ratio across resources; never above the true minimum, so "hot" is never a false alarm.
 */
function smallestFootprint(state: ClusterState, slot: number, minFactor: Float64Array): number {
  let u = 0
  for (let r = 0; r < RES; r++) u += minFactor[r]! * state.placement.slotLoadAt(slot, r)
  return u
}

function minFactors(state: ClusterState): Float64Array {
  const out = new Float64Array(RES).fill(Infinity)
  for (let i = 0; i < state.model.nodeCount; i++) {
    if (!state.model.receiver[i]) continue
    for (let r = 0; r < RES; r++) out[r] = Math.min(out[r]!, state.model.factor[i * RES + r]!)
  }
  for (let r = 0; r < RES; r++) if (out[r] === Infinity) out[r] = 0
  return out
}

/** hottestSlot returns shard `s`'s slot with the largest footprint and that footprint. */
function hottestSlot(state: ClusterState, s: number, minFactor: Float64Array): {slot: number; footprint: number} {
  let slot = -1
  let footprint = -1
  for (const x of state.placement.slotsOf(s)) {
    const f = smallestFootprint(state, x, minFactor)
    if (f > footprint) {
      footprint = f
      slot = x
    }
  }
  return {slot, footprint}
}

/**
 * handleHotShards finds shards one of whose replicas alone would put any node above the
 * target utilisation ("hot": no node's slack can absorb it). With `allowSplit`, each is split
 * where its sampled load halves (key samples from the nodes' stats; at the hash midpoint when
 * there are none), repeatedly, until every piece needs at most half the target; the split
 * actions go first in the plan. A piece whose load one key drives (the hot key) is not split
 * further: the entry names the key and the piece stays hot. Shards in `forced` (hottest on
 * nodes an earlier attempt could not relieve) are split at least once. Returns the summary
 * entries and the shard indices that stay hot (not split, or not splittable enough):
 * balancing leaves those and their nodes alone, and the plan reports the target unreachable.
 */
export function handleHotShards(state: ClusterState, log: ActionLog, allowSplit: boolean, forced: ReadonlySet<number> = new Set()): {hot: HotShard[]; stillHot: Set<number>} {
  const minFactor = minFactors(state)
  const hot: HotShard[] = []
  const stillHot = new Set<number>()
  const originalShards = state.placement.shardCount
  for (let s = 0; s < originalShards; s++) {
    if (state.placement.shardFrozen[s]) continue
    const {slot, footprint} = hottestSlot(state, s, minFactor)
    const force = allowSplit && forced.has(s)
    if (slot < 0 || (footprint <= state.model.target && !force)) continue
    const node = state.placement.slotNode[slot]!
    const entry: HotShard = {shard: state.placement.shardId[s]!, node: state.model.nodeIds[node]!, load: roundUtil(state.slotUnits(slot)), resource: state.dominantResource(slot, node), split: allowSplit}
    hot.push(entry)
    const first = loadSplitPoint(state.placement.sampleOf(s), state.placement.shardLo[s]!, state.placement.shardHi[s]!)
    if (first.kind === 'hot-key') entry.hotKey = {hash: first.hash, share: roundUtil(first.share)}
    if (!allowSplit) {
      stillHot.add(s)
      continue
    }
    splitPieces(state, log, s, {force, footprint, minFactor, stillHot, entry})
  }
  return {hot, stillHot}
}

/** splitPieces splits shard `s` and its pieces breadth first until each is cool enough, cannot be split, or hits the depth bound. */
function splitPieces(state: ClusterState, log: ActionLog, s: number, ctx: {force: boolean; footprint: number; minFactor: Float64Array; stillHot: Set<number>; entry: HotShard}): void {
  const {force, footprint, minFactor, stillHot, entry} = ctx
  const queue: {piece: number; depth: number}[] = [{piece: s, depth: 0}]
  while (queue.length > 0) {
    const {piece, depth} = queue.shift()!
    const need = hottestSlot(state, piece, minFactor).footprint
    if (need <= state.model.target * SPLIT_GOAL && !(force && depth === 0)) continue
    const choice = loadSplitPoint(state.placement.sampleOf(piece), state.placement.shardLo[piece]!, state.placement.shardHi[piece]!)
    if (choice.kind === 'hot-key' || choice.kind === 'none' || depth >= MAX_SPLIT_DEPTH) {
      if (choice.kind === 'hot-key' && !entry.hotKey) entry.hotKey = {hash: choice.hash, share: roundUtil(choice.share)}
      if (need > state.model.target) stillHot.add(piece)
      continue
    }
    const units = state.slotUnits(hottestSlot(state, piece, minFactor).slot)
    const where = choice.kind === 'load' ? `split where its sampled load halves (${Math.round(choice.below * 100)}% below)` : 'split at its hash midpoint (no key samples)'
    const detail =
      footprint > state.model.target
        ? `one replica carries ${units.toFixed(2)}x an average node's load (mostly ${entry.resource}); no node can hold it within ${state.model.target}x the mean; ${where}`
        : `one replica carries ${units.toFixed(2)}x an average node's load (mostly ${entry.resource}) on ${entry.node}, which stays above ${state.model.target}x the mean because no node has room for it whole; ${where}`
    const other = log.split(piece, choice.at, {kind: 'split', resource: entry.resource, detail}, choice.kind === 'load' ? roundUtil(choice.below) : undefined)
    queue.push({piece, depth: depth + 1}, {piece: other, depth: depth + 1})
  }
}
