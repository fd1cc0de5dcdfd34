import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {isUserError} from '../../src/errors/errors.js'
import {type ClusterSnapshot} from '../../src/model/snapshot.js'
import {applyPlan} from '../../src/planner/applyPlan.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {nodeTotals, snapshotOf} from './snapshotBuilder.js'

const meta = {id: 'prop', createdAt: '2025-01-01T00:00:00.000Z'}
const RUNS = 80
/** TIMEOUT: generous, so a loaded CI machine does not fail a property on time alone. */
const TIMEOUT = 60_000

/** clusterArb: 2-8 nodes over 1-3 zones, some cordoned/draining/down, optional capacities; 1-30 shards on distinct nodes; random pins and forbids. */
const clusterArb = fc
  .record({
    nodes: fc.array(
      fc.record({
        zone: fc.constantFrom('z0', 'z1', 'z2'),
        state: fc.constantFrom('active', 'active', 'active', 'active', 'cordoned', 'draining'),
        alive: fc.constantFrom(true, true, true, true, false),
        capacity: fc.option(fc.record({reads: fc.integer({min: 50, max: 2000})}), {nil: undefined}),
      }),
      {minLength: 2, maxLength: 8},
    ),
    rf: fc.integer({min: 1, max: 3}),
    shards: fc.array(fc.record({pick: fc.array(fc.nat(), {minLength: 3, maxLength: 3}), reads: fc.integer({min: 0, max: 100}), writes: fc.integer({min: 0, max: 50}), bytes: fc.integer({min: 0, max: 1e6})}), {minLength: 1, maxLength: 30}),
    constraints: fc.array(fc.record({kind: fc.constantFrom('pin' as const, 'forbid' as const), shard: fc.nat(), node: fc.nat()}), {maxLength: 3}),
  })
  .map(({nodes, rf: rawRf, shards, constraints}) => {
    const ids = nodes.map((_, i) => `n${i}`)
    const rf = Math.min(rawRf, ids.length)
    const shardSpecs = shards.map((s) => {
      const pool = [...ids]
      const replicas = s.pick.slice(0, rf).map((p) => pool.splice(p % pool.length, 1)[0]!)
      return {replicas, reads: s.reads, writes: s.writes, bytes: s.bytes}
    })
    return snapshotOf({
      rf,
      nodes: nodes.map((n, i) => ({id: ids[i]!, zone: n.zone, state: n.state as 'active', alive: n.alive, capacity: n.capacity})),
      shards: shardSpecs,
      constraints: constraints.map((c) => ({kind: c.kind, shard: c.shard % shardSpecs.length, node: ids[c.node % ids.length]!})),
    })
  })

const optionsArb = fc.record({
  maxImbalance: fc.constantFrom(1.05, 1.1, 1.3),
  allowSplit: fc.boolean(),
  drainOnly: fc.constantFrom(false, false, false, true),
})

/** planOrUnreachable returns the plan, or undefined when the planner refused with UNREACHABLE_TARGET (any other error fails). */
function planOrUnreachable(snap: ClusterSnapshot, options: Parameters<typeof planRebalance>[1]) {
  try {
    return planRebalance(snap, options, meta)
  } catch (e) {
    if (isUserError(e, 'UNREACHABLE_TARGET')) return undefined
    throw e
  }
}

function zoneCount(snap: ClusterSnapshot, nodes: string[]): number {
  const zone = new Map(snap.nodes.map((n) => [n.id, n.zone]))
  return new Set(nodes.map((n) => zone.get(n))).size
}

describe('planner properties', () => {
  it('the generator yields plans with actions, unplaceable replicas and drains alike (the properties are not vacuous)', () => {
    const seen = {refused: 0, unplaceable: 0, withActions: 0, drained: 0}
    fc.assert(
      fc.property(clusterArb, optionsArb, (snap, options) => {
        const p = planOrUnreachable(snap, options)
        if (!p) seen.refused++
        else if (p.actions.length > 0) seen.withActions++
        if ((p?.summary.unplaceable?.length ?? 0) > 0) seen.unplaceable++
        if (p?.actions.some((a) => a.kind === 'move' && a.reason.kind === 'drain')) seen.drained++
      }),
      {numRuns: RUNS, seed: 7},
    )
    expect(seen.withActions).toBeGreaterThan(RUNS / 4)
    expect(seen.unplaceable).toBeGreaterThan(0)
    expect(seen.drained).toBeGreaterThan(0)
  }, TIMEOUT)

  it('every intermediate step keeps every placement rule', () => {
    fc.assert(
      fc.property(clusterArb, optionsArb, (snap, options) => {
        const p = planOrUnreachable(snap, options)
        if (!p) return
        const node = new Map(snap.nodes.map((n) => [n.id, n]))
        const receiverZones = new Set(snap.nodes.filter((n) => n.state === 'active' && n.alive).map((n) => n.zone)).size
        const required = Math.min(snap.cluster.rf, receiverZones)
        const pinned = new Set(snap.constraints.filter((c) => c.kind === 'pin').map((c) => `${c.shard}@${c.node}`))
        const forbidden = new Set(snap.constraints.filter((c) => c.kind === 'forbid').map((c) => `${c.shard}@${c.node}`))
        let state = snap
        for (const action of p.actions) {
          const before = state.shards.find((s) => s.id === action.shard)!
          const zonesBefore = zoneCount(state, before.replicas.map((r) => r.node))
          state = applyPlan(state, {actions: [action]})
          if (action.kind !== 'move') continue
          const shard = state.shards.find((s) => s.id === action.shard)!
          const nodes = shard.replicas.map((r) => r.node)
          expect(new Set(nodes).size).toBe(nodes.length)
          expect(node.get(action.to)!.state).toBe('active')
          expect(node.get(action.to)!.alive).toBe(true)
          expect(forbidden.has(`${action.shard}@${action.to}`)).toBe(false)
          expect(pinned.has(`${action.shard}@${action.from}`)).toBe(false)
          expect(zoneCount(state, nodes)).toBeGreaterThanOrEqual(Math.min(zonesBefore, required))
          const cap = node.get(action.to)!.capacity.reads
          if (cap !== undefined) expect(nodeTotals(state).get(action.to)!.reads).toBeLessThanOrEqual(cap + 1e-9)
        }
      }),
      {numRuns: RUNS},
    )
  }, TIMEOUT)

  it('drains complete whenever no limit applies, except for the replicas the plan reports unplaceable', () => {
    fc.assert(
      fc.property(clusterArb, optionsArb, (snap, options) => {
        const p = planOrUnreachable(snap, options)
        if (!p) return
        const unplaceable = p.summary.unplaceable ?? []
        // Every replica left on a draining node is reported (an entry may also name a pin to it that holds nothing).
        for (const n of p.nodes) if (n.state === 'draining') expect(n.after.replicas).toBeLessThanOrEqual(unplaceable.filter((u) => u.node === n.id && u.shard !== null).length)
        if (unplaceable.length > 0) expect(p.summary.status).toBe('unreachable')
      }),
      {numRuns: RUNS},
    )
  }, TIMEOUT)

  it('the status is needs-rebalance only when the plan ends within target, for every strategy and move limit', () => {
    const limitsArb = fc.record({strategy: fc.constantFrom('balance' as const, 'ring' as const), maxMoves: fc.option(fc.integer({min: 0, max: 3}), {nil: undefined})})
    fc.assert(
      fc.property(clusterArb, optionsArb, limitsArb, (snap, options, limits) => {
        const p = planOrUnreachable(snap, {...options, ...limits})
        if (!p) return
        if (p.summary.status === 'needs-rebalance') expect(p.summary.imbalanceAfter).toBeLessThanOrEqual(p.summary.target + 1e-6)
        if (p.summary.imbalanceAfter > p.summary.target + 1e-6) expect(p.summary.status).toBe('unreachable')
      }),
      {numRuns: RUNS},
    )
  }, TIMEOUT)

  it('the plan is deterministic, whatever order the snapshot lists things in', () => {
    fc.assert(
      fc.property(clusterArb, optionsArb, (snap, options) => {
        const a = planOrUnreachable(snap, options)
        const shuffled = {...snap, nodes: [...snap.nodes].reverse(), shards: [...snap.shards].reverse(), load: [...snap.load].reverse()}
        const b = planOrUnreachable(shuffled, options)
        expect(JSON.stringify(b)).toBe(JSON.stringify(a))
      }),
      {numRuns: RUNS / 2},
    )
  }, TIMEOUT)

  it('a balanced input gives an empty plan', () => {
    fc.assert(
      fc.property(fc.integer({min: 2, max: 8}), fc.integer({min: 1, max: 5}), fc.integer({min: 1, max: 1000}), fc.integer({min: 0, max: 1e6}), (nodes, perNode, reads, bytes) => {
        const ids = Array.from({length: nodes}, (_, i) => `n${i}`)
        const snap = snapshotOf({nodes: ids.map((id) => ({id})), shards: ids.flatMap((id) => Array.from({length: perNode}, () => ({replicas: [id], reads, writes: reads, bytes})))})
        const p = planRebalance(snap, {}, meta)
        expect(p.actions).toEqual([])
        expect(p.summary.status).toBe('balanced')
      }),
      {numRuns: RUNS / 2},
    )
  }, TIMEOUT)

  it('applying the plan to the snapshot gives the predicted per-node load', () => {
    fc.assert(
      fc.property(clusterArb, optionsArb, (snap, options) => {
        const p = planOrUnreachable(snap, options)
        if (!p) return
        const totals = nodeTotals(applyPlan(snap, p))
        for (const n of p.nodes) {
          const t = totals.get(n.id)!
          expect(n.after.replicas).toBe(t.replicas)
          expect(Math.abs(n.after.reads - t.reads)).toBeLessThan(1e-6)
          expect(Math.abs(n.after.writes - t.writes)).toBeLessThan(1e-6)
          expect(Math.abs(n.after.bytes - t.bytes)).toBeLessThan(1e-3)
        }
      }),
      {numRuns: RUNS},
    )
  }, TIMEOUT)
})
