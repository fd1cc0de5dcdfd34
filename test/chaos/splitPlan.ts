import {type MoveAction, type Plan, type PlanAction, type SplitAction, sealPlan} from '../../src/model/plan.js'
import {type HashRange} from '../../src/model/range.js'
import {type Shard} from '../../src/model/shard.js'

/**
 * SplitTarget names one shard of a drain plan to split and how: `once` cuts it in two;
 * `lower-again` / `upper-again` then cut that half again at once (a second split of a half
 * before any node can have seen the first). `cuts` are the split points, strictly inside the
 * range in order (one for `once`, two for the others: the first cut, then the half's).
 */
export interface SplitTarget {
  shard: number
  kind: 'once' | 'lower-again' | 'upper-again'
  cuts: number[]
}

/** SplitPlanResult: the sealed plan and the parts each split shard ended as (id, range, epoch). */
export interface SplitPlanResult {
  plan: Plan
  parts: Array<{parent: number; shard: number; range: HashRange; epoch: number; created: boolean}>
}

/**
 * splitDrainPlan (pure) turns a drain plan into one that first splits `targets` (in order,
 * new ids from `nextShardId`) and then moves every resulting part off the drained node to the
 * parent's planned destination. The moves of the parts are put first, newly created (upper)
 * ids before the parents' ids, so they start at once after the splits, before a node or
 * router can have folded them in; the rest of the drain follows. Throws when a target has no
 * move in the plan or its cuts do not fit its range.
 */
export function splitDrainPlan(drain: Plan, shards: readonly Shard[], nextShardId: number, targets: readonly SplitTarget[]): SplitPlanResult {
  const byId = new Map(shards.map((s) => [s.id, s]))
  const splits: SplitAction[] = []
  const created: MoveAction[] = []
  const parents: MoveAction[] = []
  const parts: SplitPlanResult['parts'] = []
  let next = nextShardId
  const split = (shard: number, epoch: number, range: HashRange, at: number, why: string): [{shard: number; range: HashRange; epoch: number}, {shard: number; range: HashRange; epoch: number}] => {
    if (!(at > range.lo && at < range.hi)) throw new Error(`split point ${at} is not inside shard ${shard}'s range [${range.lo}, ${range.hi})`)
    const lo = {shard, range: {lo: range.lo, hi: at}, epoch: epoch + 1}
    const hi = {shard: next++, range: {lo: at, hi: range.hi}, epoch: epoch + 1}
    splits.push({kind: 'split', shard, epoch, at, parts: [lo, hi], reason: {kind: 'split', detail: why}})
    return [lo, hi]
  }
  const drained = new Set<number>()
  for (const t of targets) {
    const s = byId.get(t.shard)
    const move = drain.actions.find((a): a is MoveAction => a.kind === 'move' && a.shard === t.shard)
    if (!s || !move) throw new Error(`shard ${t.shard} has no move in drain plan ${drain.id}`)
    drained.add(t.shard)
    const [lo, hi] = split(s.id, s.epoch, s.range, t.cuts[0]!, 'chaos: split under load')
    let final = [lo, hi]
    if (t.kind === 'lower-again') final = [...split(lo.shard, lo.epoch, lo.range, t.cuts[1]!, 'chaos: second split of the lower half'), hi]
    if (t.kind === 'upper-again') final = [lo, ...split(hi.shard, hi.epoch, hi.range, t.cuts[1]!, 'chaos: second split of the upper half')]
    for (const p of final) {
      const share = (p.range.hi - p.range.lo) / (s.range.hi - s.range.lo)
      const m: MoveAction = {...move, shard: p.shard, epoch: p.epoch, bytes: Math.round(move.bytes * share), keys: Math.round(move.keys * share)}
      parts.push({parent: s.id, ...p, created: p.shard !== s.id})
      ;(p.shard === s.id ? parents : created).push(m)
    }
  }
  const rest = drain.actions.filter((a) => !(a.kind === 'move' && drained.has(a.shard)))
  const actions: PlanAction[] = [...splits, ...created, ...parents, ...rest]
  const {hash: _hash, signature: _signature, ...body} = drain
  return {plan: sealPlan({...body, id: `${drain.id}-split`, options: {...body.options, allowSplit: true}, actions}), parts}
}
