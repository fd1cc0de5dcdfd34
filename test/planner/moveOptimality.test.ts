import {describe, expect, it} from 'vitest'
import {seededRandom} from '../../bench/seededRandom.js'
import {type ClusterSnapshot} from '../../src/model/snapshot.js'
import {applyPlan} from '../../src/planner/applyPlan.js'
import {ClusterState} from '../../src/planner/clusterState.js'
import {RES} from '../../src/planner/nodeModel.js'
import {resolvePlanOptions} from '../../src/planner/options.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {type NodeSpec, snapshotOf, type ShardSpec} from './snapshotBuilder.js'

/**
 * Moves and bytes against exhaustive search, at the default band (1.10), where
 * optimality.test.ts compares the worst node at a zero-width band. It goes where that test
 * does not: rf up to 3, a new empty node among many small shards, one hot shard, zero-load
 * shards, all-equal shards (ties), binding byte capacities and a draining node. For each
 * seeded instance (2-4 nodes, 3-8 shards) an iterative-deepening search finds the fewest
 * replica changes (then the fewest bytes) that put every node in the band and keep every
 * rule at the end (distinct nodes, nothing on draining or forbidden nodes, zone spread,
 * stated capacities). The plan must keep every rule, reach the band whenever the search
 * does, and stay near the optimum in moves and bytes. The distributions are printed.
 */

const INSTANCES = Number(process.env.PLANNER_MOVE_OPTIMALITY_INSTANCES ?? 300)
const meta = {id: 'opt', createdAt: '2025-01-01T00:00:00.000Z'}
const FAMILIES = ['new-node', 'drain', 'hot-shard', 'zero-load', 'ties', 'tight-capacity', 'rf3'] as const
type Family = (typeof FAMILIES)[number]


function instance(seed: number): {family: Family; snap: ClusterSnapshot} {
  const random = seededRandom(seed)
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1))
  const family = FAMILIES[seed % FAMILIES.length]!
  const nodeCount = family === 'rf3' ? 4 : int(2, 4)
  const rf = family === 'rf3' ? 3 : Math.min(int(1, 2), nodeCount - (family === 'new-node' || family === 'drain' ? 1 : 0))
  const zones = int(1, 2)
  const shardCount = family === 'new-node' || family === 'ties' ? int(6, 8) : int(3, 8)
  const sizes = Array.from({length: shardCount}, (_, i) => {
    if (family === 'ties') return 4
    if (family === 'new-node') return int(1, 2)
    if (family === 'hot-shard' && i === 0) return int(10, 20)
    if (family === 'zero-load' && random() < 0.4) return 0
    return int(1, 8)
  })
  const total = sizes.reduce((a, b) => a + b, 0) * rf
  const nodes: NodeSpec[] = Array.from({length: nodeCount}, (_, i) => {
    const scale = family === 'tight-capacity' ? int(1, 3) : 1
    // Tight capacities: byte limits a little above each node's fair share, so they bind.
    const bytesLimit = family === 'tight-capacity' ? Math.ceil((total * scale * (1.1 + random() * 0.5)) / nodeCount) : 1e6
    const state = family === 'drain' && i === nodeCount - 1 ? ('draining' as const) : ('active' as const)
    return {id: `n${i}`, zone: `z${i % zones}`, capacity: {reads: scale * 1e6, bytes: bytesLimit}, state}
  })
  // A new node holds nothing: replicas start on the others.
  const starters = family === 'new-node' ? nodeCount - 1 : nodeCount
  const shards: ShardSpec[] = sizes.map((size) => {
    const holders = [...Array(starters).keys()].sort(() => random() - 0.5).slice(0, rf).sort((a, b) => a - b)
    return {replicas: holders.map((i) => `n${i}`), reads: size, bytes: size}
  })
  return {family, snap: snapshotOf({rf, nodes, shards})}
}

interface Best {
  moves: number
  bytes: number
}

/** shardOptions lists, per shard, every rule-keeping node set with its replica changes and bytes copied. */
function shardOptions(st: ClusterState) {
  const n = st.model.nodeCount
  const p = st.placement
  return Array.from({length: p.shardCount}, (_, s) => {
    const slots = p.slotsOf(s)
    const start = slots.map((x) => p.slotNode[x]!)
    const sets: number[][] = []
    const rec = (from: number, acc: number[]) => {
      if (acc.length === slots.length) return void sets.push([...acc])
      for (let i = from; i < n; i++) rec(i + 1, [...acc, i])
    }
    rec(0, [])
    return sets
      .filter((nodes) => nodes.every((x) => st.model.nodeState[x] !== 'draining' && !st.placement.isForbidden(s, x) && (start.includes(x) || st.model.receiver[x])))
      .filter((nodes) => new Set(nodes.map((x) => st.model.nodeZone[x])).size >= Math.min(st.model.requiredZones, nodes.length))
      .map((nodes) => {
        const moves = nodes.filter((x) => !start.includes(x)).length
        return {nodes, moves, bytes: moves * st.slotBytes(slots[0]!)}
      })
      .sort((a, b) => a.moves - b.moves || a.bytes - b.bytes)
  })
}

/** exhaustiveBest is the fewest moves (then bytes) to a rule-keeping placement with every node in the band; null when none within `maxMoves`. */
function exhaustiveBest(st: ClusterState, maxMoves: number): Best | null {
  const n = st.model.nodeCount
  const p = st.placement
  const options = shardOptions(st)
  const slot0 = Array.from({length: p.shardCount}, (_, s) => p.slotsOf(s)[0]!)
  const util = new Float64Array(n)
  const load = new Float64Array(n * RES)
  let best: Best | null = null
  const inBandAndFits = () => {
    for (let x = 0; x < n; x++) {
      if (st.outsideAt(x, util[x]!) > 0) return false
      for (let r = 0; r < RES; r++) if (load[x * RES + r]! > st.capLimitAt(x, r) + 1e-9) return false
    }
    return true
  }
  const rec = (s: number, moves: number, bytes: number, budget: number) => {
    if (best && (moves > best.moves || (moves === best.moves && bytes >= best.bytes))) return
    if (s === p.shardCount) {
      if (inBandAndFits()) best = {moves, bytes}
      return
    }
    const slot = slot0[s]!
    for (const o of options[s]!) {
      if (moves + o.moves > budget) continue
      for (const x of o.nodes) {
        util[x]! += st.utilDelta(slot, x)
        for (let r = 0; r < RES; r++) load[x * RES + r]! += p.slotLoadAt(slot, r)
      }
      rec(s + 1, moves + o.moves, bytes + o.bytes, budget)
      for (const x of o.nodes) {
        util[x]! -= st.utilDelta(slot, x)
        for (let r = 0; r < RES; r++) load[x * RES + r]! -= p.slotLoadAt(slot, r)
      }
    }
  }
  // Iterative deepening: the first budget with a solution gives the fewest moves.
  for (let budget = 0; budget <= maxMoves && !best; budget++) rec(0, 0, 0, budget)
  return best
}

/** ruleBreaks lists what a planned end state breaks: two replicas on a node, a draining holder, a zone spread lost, a stated capacity exceeded. */
function ruleBreaks(st: ClusterState, after: ClusterSnapshot): string[] {
  const out: string[] = []
  const byNode = new Map<string, number[]>()
  for (const shard of after.shards) {
    const nodes = shard.replicas.map((r) => r.node)
    if (new Set(nodes).size !== nodes.length) out.push(`shard ${shard.id} has two replicas on one node (${nodes.join(',')})`)
    for (const node of nodes) if (after.nodes.find((x) => x.id === node)?.state === 'draining') out.push(`shard ${shard.id} left on draining ${node}`)
    const zones = new Set(nodes.map((x) => after.nodes.find((y) => y.id === x)!.zone)).size
    if (zones < Math.min(st.model.requiredZones, nodes.length)) out.push(`shard ${shard.id} spans ${zones} zone(s)`)
  }
  for (const l of after.load) {
    const t = byNode.get(l.node) ?? [0, 0]
    byNode.set(l.node, [t[0]! + l.reads, t[1]! + l.bytes])
  }
  for (const node of after.nodes) {
    const [reads, bytes] = byNode.get(node.id) ?? [0, 0]
    if (node.capacity.bytes !== undefined && bytes! > node.capacity.bytes + 1e-9) out.push(`${node.id} holds ${bytes} bytes over its capacity ${node.capacity.bytes}`)
    if (node.capacity.reads !== undefined && reads! > node.capacity.reads + 1e-9) out.push(`${node.id} serves ${reads} reads over its capacity ${node.capacity.reads}`)
  }
  return out
}

function quantiles(xs: number[]): string {
  if (xs.length === 0) return 'none'
  const s = [...xs].sort((a, b) => a - b)
  const q = (f: number) => s[Math.min(s.length - 1, Math.floor(f * s.length))]!.toFixed(2)
  const exact = s.filter((x) => x <= 1 + 1e-9).length
  return `optimal ${exact}/${s.length} (${((100 * exact) / s.length).toFixed(1)}%), median ${q(0.5)}, p90 ${q(0.9)}, p99 ${q(0.99)}, max ${s[s.length - 1]!.toFixed(2)}`
}

describe('planner moves and bytes vs exhaustive search (default band)', () => {
  it(`on ${INSTANCES} seeded instances keeps every rule, reaches the band whenever it is reachable, and moves near the fewest`, () => {
    const moveRatios: number[] = []
    const byteRatios: number[] = []
    const perFamily = new Map<Family, {n: number; reachable: number; missed: number; moves: number[]}>()
    const breaks: string[] = []
    const missed: string[] = []
    const worst: {seed: number; family: Family; text: string; ratio: number}[] = []
    for (let seed = 1; seed <= INSTANCES; seed++) {
      const {family, snap} = instance(seed)
      const st = ClusterState.fromSnapshot(snap, resolvePlanOptions({}))
      const plan = planRebalance(snap, {}, meta, {baseline: false})
      const after = applyPlan(snap, plan)
      const fam = perFamily.get(family) ?? {n: 0, reachable: 0, missed: 0, moves: []}
      perFamily.set(family, fam)
      fam.n++
      const best = exhaustiveBest(st, Math.min(st.placement.slotCount, 8))
      const unplaceable = plan.summary.unplaceable ?? []
      // A rule the plan leaves broken must be one it reports unplaceable, and only when no placement keeps every rule.
      const broken = ruleBreaks(st, after)
      if (unplaceable.length > 0 && best !== null) breaks.push(`seed ${seed} (${family}): reports ${unplaceable.length} unplaceable, but ${best.moves} move(s) keep every rule`)
      if (broken.length > 0 && unplaceable.length === 0) breaks.push(`seed ${seed} (${family}): ${broken[0]}, not reported unplaceable`)
      if (best === null) continue
      fam.reachable++
      const inBand = plan.nodes.every((x, i) => st.outsideAt(i, x.after.utilisation) === 0)
      const moves = plan.actions.filter((a) => a.kind === 'move')
      const bytes = moves.reduce((sum, a) => sum + (a.kind === 'move' ? a.bytes : 0), 0)
      if (!inBand) {
        fam.missed++
        missed.push(`seed ${seed} (${family}): the band is reachable in ${best.moves} move(s) but the plan ends ${plan.summary.status}/${plan.summary.stopReason} after ${moves.length}`)
        continue
      }
      if (best.moves === 0) {
        if (moves.length > 0) missed.push(`seed ${seed} (${family}): already in the band, the plan still moves ${moves.length}`)
        continue
      }
      moveRatios.push(moves.length / best.moves)
      worst.push({seed, family, text: `${moves.length} moves / ${best.moves}, ${bytes} bytes / ${best.bytes}`, ratio: moves.length / best.moves})
      byteRatios.push(best.bytes > 0 ? bytes / best.bytes : bytes > 0 ? Infinity : 1)
      fam.moves.push(moves.length / best.moves)
    }
    console.log(
      [
        `planner vs fewest moves to the band (${moveRatios.length} instances needing moves):`,
        `  moves ${quantiles(moveRatios)}`,
        `  bytes ${quantiles(byteRatios)}`,
        ...[...perFamily].map(([f, x]) => `  ${f.padEnd(15)} ${x.n} instances, band reachable in ${x.reachable}, plan missed it in ${x.missed}; moves ${quantiles(x.moves)}`),
        `  farthest from the fewest moves: ${[...worst].sort((a, b) => b.ratio - a.ratio || a.seed - b.seed).slice(0, 4).map((w) => `seed ${w.seed} (${w.family}) ${w.text}`).join('; ')}`,
        ...(missed.length > 0 ? [`  missed (first 5): ${missed.slice(0, 5).join('; ')}`] : []),
      ].join('\n'),
    )
    expect(breaks.slice(0, 5)).toEqual([])
    // Measured: with the band search (src/planner/bandSearch.ts) the plan misses a reachable band
    // in 2 of 378 instances at 700 (0.5%, was 8, 2.1%, before it): both are anti-churn, too little
    // load outside the band for the moves it takes (seeds 75 and 323 reach it with
    // --min-improvement 0); more is a regression.
    const reachable = [...perFamily.values()].reduce((sum, x) => sum + x.reachable, 0)
    expect(missed.length / reachable).toBeLessThanOrEqual(0.01)
    expect(moveRatios.length).toBeGreaterThan(INSTANCES / 4)
    // Near the fewest: the median at the optimum, p90 measured 1.25x at 300 instances and 1.00x at
    // 700. Measured at most 2.5x (seed 373: the zone-spread repair, which runs before balancing,
    // picks replicas whose moves leave 3 balance moves where other repair choices leave none; it
    // was 4x, seed 170, before the band search). The rest above 1x are plans where fewer moves
    // would copy more bytes than the greedy plan (seed 37: 2 moves of 11 bytes, not 1 of 12),
    // which the band search does not trade for, or the repair's choice of replica (seed 102).
    expect(quantile(moveRatios, 0.5)).toBeLessThanOrEqual(1)
    expect(quantile(moveRatios, 0.9)).toBeLessThanOrEqual(1.5)
    expect(Math.max(...moveRatios)).toBeLessThanOrEqual(2.5)
  }, 300_000)
})

function quantile(xs: number[], f: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(f * s.length))] ?? 0
}
