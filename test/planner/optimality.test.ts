import {describe, expect, it} from 'vitest'
import {naivePlan} from '../../bench/naivePlanner.js'
import {seededRandom} from '../../bench/seededRandom.js'
import {type ClusterSnapshot} from '../../src/model/snapshot.js'
import {applyPlan} from '../../src/planner/applyPlan.js'
import {ClusterState} from '../../src/planner/clusterState.js'
import {resolvePlanOptions} from '../../src/planner/options.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {type NodeSpec, snapshotOf, type ShardSpec} from './snapshotBuilder.js'

/**
 * Optimality against exhaustive search (issue 13). On thousands of seeded random small
 * clusters (2-6 nodes, mixed capacities and zones, up to 10 shards of mixed sizes, random
 * forbids and drains, rf 1 and 2), a branch-and-bound search finds the placement with the
 * lowest worst-node utilisation that keeps every rule and differs from the start in at most
 * k replicas (k = the replicas that must move + 4). The planner's plan must keep every rule,
 * reach within 5% of that optimum in at least 95% of instances, and never end with a worse
 * worst node than the naive greedy baseline (where that baseline's result keeps the rules).
 * The distribution is printed.
 */

/** INSTANCES: 2,000 by default; PLANNER_OPTIMALITY_INSTANCES widens the sweep (8,000 is the wider run reported in issue 13). */
const INSTANCES = Number(process.env.PLANNER_OPTIMALITY_INSTANCES ?? 2000)
const EXTRA_MOVES = 4
const meta = {id: 'opt', createdAt: '2025-01-01T00:00:00.000Z'}
const SIZES = [1, 1, 2, 3, 5, 8]
// A zero-width band: the planner may not stop early at "good enough", so what is compared is its objective.
const TARGET = 1.0

function instance(seed: number): ClusterSnapshot {
  const random = seededRandom(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!
  const nodeCount = 2 + Math.floor(random() * 5)
  const zones = 1 + Math.floor(random() * 3)
  const nodes: NodeSpec[] = Array.from({length: nodeCount}, (_, i) => {
    const scale = pick([1, 2, 4])
    // Capacities far above any load: they weigh fair shares without ever binding as limits.
    return {id: `n${i}`, zone: `z${i % zones}`, capacity: {reads: scale * 1e6, bytes: scale * 1e6}, state: i > 0 && random() < 0.15 ? 'draining' : 'active'}
  })
  const rf = Math.min(pick([1, 2]), nodeCount)
  const shardCount = 1 + Math.floor(random() * 10)
  const shards: ShardSpec[] = Array.from({length: shardCount}, () => {
    const holders = [...nodes.keys()].sort(() => random() - 0.5).slice(0, rf).sort((a, b) => a - b)
    const size = pick(SIZES)
    return {replicas: holders.map((i) => nodes[i]!.id), reads: size, bytes: size}
  })
  const constraints: ClusterSnapshot['constraints'] = []
  for (let s = 0; s < shardCount; s++) if (random() < 0.3) constraints.push({kind: 'forbid', shard: s, node: pick(nodes).id})
  return snapshotOf({rf, nodes, shards, constraints})
}

interface Rules {
  state: ClusterState
  required: number
  forbidden: (s: number, node: number) => boolean
}

function rulesOf(snap: ClusterSnapshot): Rules {
  const state = ClusterState.fromSnapshot(snap, resolvePlanOptions({maxImbalance: TARGET}))
  return {state, required: state.model.requiredZones, forbidden: (s, node) => state.placement.isForbidden(s, node)}
}

function zonesOf(state: ClusterState, nodes: readonly number[]): number {
  return new Set(nodes.map((n) => state.model.nodeZone[n])).size
}

/** placementOk tells whether shard s on `nodes` keeps every rule (a node it did not start on must be able to receive). */
function placementOk(r: Rules, s: number, start: readonly number[], nodes: readonly number[]): boolean {
  const st = r.state
  if (new Set(nodes).size !== nodes.length) return false
  for (const n of nodes) {
    if (r.forbidden(s, n) || st.model.nodeState[n] === 'draining') return false
    if (!start.includes(n) && !st.model.receiver[n]) return false
  }
  // The zone spread is a hard rule: a shard below it must be brought up to it.
  return zonesOf(st, nodes) >= r.required
}

function combinations(n: number, k: number): number[][] {
  const out: number[][] = []
  const rec = (from: number, acc: number[]) => {
    if (acc.length === k) return void out.push([...acc])
    for (let i = from; i < n; i++) rec(i + 1, [...acc, i])
  }
  rec(0, [])
  return out
}

/**
 * optimum is the lowest worst pool-node utilisation over rule-keeping placements within
 * `k` changed replicas (branch and bound, biggest shards first); null when none exists.
 */
function optimum(r: Rules, k: number): number | null {
  const st = r.state
  const n = st.model.nodeCount
  const shards = Array.from({length: st.placement.shardCount}, (_, s) => st.placement.slotsOf(s)).map((slots, s) => ({s, slots, start: slots.map((x) => st.placement.slotNode[x]!), units: st.slotUnits(slots[0]!)}))
  shards.sort((a, b) => b.units - a.units || a.s - b.s)
  const options = shards.map((sh) =>
    combinations(n, sh.slots.length)
      .filter((nodes) => placementOk(r, sh.s, sh.start, nodes))
      .map((nodes) => ({nodes, moves: nodes.filter((x) => !sh.start.includes(x)).length})),
  )
  const util = new Float64Array(n)
  let best = Infinity
  const worstNow = () => {
    let w = 0
    for (let i = 0; i < n; i++) if (st.model.inPool[i]) w = Math.max(w, util[i]!)
    return w
  }
  const rec = (i: number, moves: number) => {
    const w = worstNow()
    if (w >= best - 1e-12) return
    if (i === shards.length) return void (best = w)
    const slot = shards[i]!.slots[0]!
    for (const o of options[i]!) {
      if (moves + o.moves > k) continue
      for (const x of o.nodes) util[x]! += st.utilDelta(slot, x)
      rec(i + 1, moves + o.moves)
      for (const x of o.nodes) util[x]! -= st.utilDelta(slot, x)
    }
  }
  rec(0, 0)
  return best === Infinity ? null : best
}

function worstOf(state: ClusterState, util: (i: number) => number): number {
  let w = 0
  for (let i = 0; i < state.model.nodeCount; i++) if (state.model.inPool[i]) w = Math.max(w, util(i))
  return w
}

/** keepsRules checks a final snapshot: distinct nodes, nothing on draining or forbidden nodes, zone spread kept. */
function keepsRules(r: Rules, before: ClusterSnapshot, after: ClusterSnapshot): boolean {
  const st = r.state
  return after.shards.every((shard) => {
    const s = st.placement.shardIndex.get(shard.id)!
    const start = before.shards.find((x) => x.id === shard.id)!.replicas.map((x) => st.model.nodeIndex.get(x.node)!)
    return placementOk(r, s, start, shard.replicas.map((x) => st.model.nodeIndex.get(x.node)!))
  })
}

describe('planner vs exhaustive search on small clusters', () => {
  it(`on ${INSTANCES} random instances, keeps every rule, is within 5% of the optimum in at least 95% and never worse than the naive greedy`, () => {
    const ratios: number[] = []
    const tally = {infeasible: 0, unplaceableAgrees: 0, naiveCompared: 0, naiveBetter: 0, naiveWorse: 0}
    const breaks: string[] = []
    const naiveWins: string[] = []
    for (let seed = 1; seed <= INSTANCES; seed++) {
      const snap = instance(seed)
      const rules = rulesOf(snap)
      const st = rules.state
      let mustMove = 0
      for (let slot = 0; slot < st.placement.slotCount; slot++) if (st.model.nodeState[st.placement.slotNode[slot]!] === 'draining' || rules.forbidden(st.placement.slotShard[slot]!, st.placement.slotNode[slot]!)) mustMove++
      for (let s = 0; s < st.placement.shardCount; s++) mustMove += Math.max(0, rules.required - zonesOf(st, st.placement.slotsOf(s).map((x) => st.placement.slotNode[x]!)))
      const best = optimum(rules, mustMove + EXTRA_MOVES)
      const plan = planRebalance(snap, {maxImbalance: TARGET}, meta, {baseline: false})
      if (best === null) {
        // No rule-keeping placement exists: the planner must say so rather than break a rule.
        tally.infeasible++
        if ((plan.summary.unplaceable ?? []).length > 0) tally.unplaceableAgrees++
        else breaks.push(`seed ${seed}: no valid placement exists but the plan reports nothing unplaceable`)
        continue
      }
      const after = applyPlan(snap, plan)
      if ((plan.summary.unplaceable ?? []).length > 0 || !keepsRules(rules, snap, after)) {
        breaks.push(`seed ${seed}: the plan leaves a rule broken (${JSON.stringify(plan.summary.unplaceable)})`)
        continue
      }
      const mine = worstOf(st, (i) => plan.nodes[i]!.after.utilisation)
      ratios.push(best > 0 ? mine / best : mine > 1e-6 ? Infinity : 1)
      const naive = naivePlan(snap, TARGET)
      const naiveAfter = applyPlan(snap, {actions: naive.log.actions})
      if (keepsRules(rules, snap, naiveAfter)) {
        tally.naiveCompared++
        const theirs = worstOf(naive.state, (i) => naive.state.placement.util[i]!)
        if (mine > theirs + 1e-6) {
          tally.naiveBetter++
          naiveWins.push(`seed ${seed}: naive ${theirs.toFixed(3)}, planner ${mine.toFixed(3)}`)
        } else if (mine < theirs - 1e-6) tally.naiveWorse++
      }
    }
    const within = (limit: number) => ratios.filter((x) => x <= limit + 1e-6).length
    const buckets: [string, number][] = [
      ['optimal', within(1)],
      ['<= 1.01x', within(1.01) - within(1)],
      ['<= 1.05x', within(1.05) - within(1.01)],
      ['<= 1.10x', within(1.1) - within(1.05)],
      ['<= 1.25x', within(1.25) - within(1.1)],
      ['> 1.25x', ratios.length - within(1.25)],
    ]
    console.log(
      [
        `planner worst node / exhaustive optimum over ${ratios.length} feasible instances (${tally.infeasible} infeasible, all reported unplaceable: ${tally.unplaceableAgrees === tally.infeasible}):`,
        ...buckets.map(([label, count]) => `  ${label.padEnd(9)} ${String(count).padStart(5)}  ${((100 * count) / ratios.length).toFixed(1)}%`),
        `  vs naive greedy (${tally.naiveCompared} comparable): planner better in ${tally.naiveWorse}, equal in ${tally.naiveCompared - tally.naiveWorse - tally.naiveBetter}, worse in ${tally.naiveBetter}`,
      ].join('\n'),
    )
    if (naiveWins.length > 0) console.log(`  naive greedy ahead (first 5): ${naiveWins.slice(0, 5).join('; ')}`)
    expect(breaks.slice(0, 5)).toEqual([])
    // Never worse than the naive greedy: the cases, if any, are printed above.
    expect(naiveWins.slice(0, 5)).toEqual([])
    expect(tally.naiveCompared).toBeGreaterThan(INSTANCES / 2)
    expect(ratios.length).toBeGreaterThan(INSTANCES / 2)
    expect(within(1.05) / ratios.length).toBeGreaterThanOrEqual(0.95)
  }, 300_000)
})
