import {describe, expect, it} from 'vitest'
import {type MoveAction, type Plan, shortStopOf, verifyPlanHash} from '../../src/model/plan.js'
import {PlacementRing} from '../../src/placement/ring.js'
import {applyPlan} from '../../src/planner/applyPlan.js'
import {type PlanOptionsInput} from '../../src/planner/options.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {nodeTotals, snapshotOf, type ShardSpec} from './snapshotBuilder.js'

const meta = {id: 'plan-1', createdAt: '2025-01-02T03:04:05.000Z'}

function plan(snapshot: Parameters<typeof planRebalance>[0], options: PlanOptionsInput = {}): Plan {
  return planRebalance(snapshot, options, meta)
}

function moves(p: Plan): MoveAction[] {
  return p.actions.filter((a): a is MoveAction => a.kind === 'move')
}

function after(p: Plan, id: string) {
  return p.nodes.find((n) => n.id === id)!.after
}

const even = (n: number, node: string, load: Partial<ShardSpec> = {}): ShardSpec[] => Array.from({length: n}, () => ({replicas: [node], reads: 10, writes: 10, bytes: 1000, ...load}))

describe('planRebalance (balance)', () => {
  it('given a balanced cluster, when planning, then the plan is empty and says so', () => {
    const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}], shards: [...even(3, 'a'), ...even(3, 'b')]})
    const p = plan(snap)
    expect(p.actions).toEqual([])
    expect(p.summary.status).toBe('balanced')
    expect(p.summary.stopReason).toBe('within-target')
    expect(verifyPlanHash(p)).toBe(true)
  })

  it('given all shards on one of two nodes, when planning, then half move and the spread is within target', () => {
    const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}], shards: even(4, 'a')})
    const p = plan(snap)
    expect(moves(p)).toHaveLength(2)
    expect(moves(p).every((m) => m.from === 'a' && m.to === 'b' && m.reason.kind === 'balance')).toBe(true)
    expect(p.summary.imbalanceAfter).toBeLessThanOrEqual(1.1)
    expect(p.summary.status).toBe('needs-rebalance')
    expect(after(p, 'b').replicas).toBe(2)
    // Every action says where it leaves its source and target.
    expect(moves(p).at(-1)!.predicted).toEqual({source: 1, target: 1})
  })

  it('given stated capacities, when planning, then load follows capacity, not shard counts', () => {
    const snap = snapshotOf({
      nodes: [
        {id: 'small', capacity: {reads: 100, writes: 100, bytes: 1e6}},
        {id: 'big', capacity: {reads: 300, writes: 300, bytes: 3e6}},
      ],
      shards: [...even(4, 'small'), ...even(4, 'big')],
    })
    const p = plan(snap)
    expect(after(p, 'small').replicas).toBe(2)
    expect(after(p, 'big').replicas).toBe(6)
    expect(p.summary.imbalanceAfter).toBeLessThanOrEqual(1.1)
  })

  it('given per-shard costs, when one node is overloaded, then the hot small shard moves rather than the cold big one', () => {
    const snap = snapshotOf({
      nodes: [{id: 'a'}, {id: 'b'}],
      shards: [
        {replicas: ['a'], reads: 50, writes: 0, bytes: 1e9},
        {replicas: ['a'], reads: 50, writes: 0, bytes: 10},
        {replicas: ['a'], reads: 100, writes: 0, bytes: 1e6},
        {replicas: ['b'], reads: 100, writes: 0, bytes: 1e6},
      ],
    })
    const p = plan(snap, {weights: {reads: 1, writes: 1, bytes: 0}})
    expect(moves(p).map((m) => m.shard)).toEqual([1])
    expect(moves(p)[0]!.reason).toMatchObject({kind: 'balance', resource: 'reads'})
  })

  it('given weights, when bytes weigh nothing, then a bytes-only imbalance needs no plan', () => {
    const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}], shards: [...even(4, 'a', {bytes: 1e9}), ...even(4, 'b', {bytes: 1})]})
    expect(plan(snap, {weights: {reads: 1, writes: 1, bytes: 0}}).actions).toEqual([])
    expect(plan(snap).actions.length).toBeGreaterThan(0)
  })

  it('given a draining node, when planning, then every replica leaves it first, each saying why', () => {
    const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}, {id: 'c', state: 'draining'}], shards: [...even(3, 'a'), ...even(3, 'b'), ...even(4, 'c')]})
    const p = plan(snap)
    expect(after(p, 'c').replicas).toBe(0)
    expect(moves(p).slice(0, 3).every((m) => m.from === 'c' && m.reason.kind === 'drain' && m.reason.detail.includes('draining'))).toBe(true)
    expect(p.summary.imbalanceAfter).toBeLessThanOrEqual(1.1)
  })

  it('given --drain-only, when the cluster is also imbalanced, then only the drain is planned', () => {
    const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}, {id: 'c', state: 'draining'}], shards: [...even(8, 'a'), ...even(1, 'c')]})
    const p = plan(snap, {drainOnly: true})
    expect(moves(p)).toHaveLength(1)
    expect(moves(p)[0]).toMatchObject({from: 'c', to: 'b', reason: {kind: 'drain'}})
    expect(p.summary.stopReason).toBe('drain-only')
  })

  it('given a cordoned node, when planning, then it receives nothing but may give', () => {
    const snap = snapshotOf({nodes: [{id: 'a', state: 'cordoned'}, {id: 'b'}, {id: 'c', state: 'cordoned'}], shards: [...even(6, 'a'), ...even(1, 'b')]})
    const p = plan(snap)
    expect(moves(p).every((m) => m.to === 'b')).toBe(true)
    expect(moves(p).length).toBeGreaterThan(0)
  })

  it('given a node that is down, when planning, then it receives nothing', () => {
    const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b', alive: false}, {id: 'c'}], shards: [...even(6, 'a')]})
    const p = plan(snap)
    expect(moves(p).length).toBeGreaterThan(0)
    expect(moves(p).every((m) => m.to === 'c')).toBe(true)
  })

  it('given a shard mid-move on a draining node, when planning, then it is left for a later plan and said so', () => {
    const base = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}, {id: 'c', state: 'draining'}], shards: [...even(1, 'a'), ...even(1, 'c'), ...even(1, 'c')]})
    const shards = base.shards.map((s) => (s.id === 1 ? {...s, replicas: [{node: 'c', role: 'outgoing' as const}, {node: 'b', role: 'joining' as const}]} : s))
    const load = [...base.load, {node: 'b', shard: 1, reads: 10, writes: 10, bytes: 1000, keys: 10}]
    const p = plan({...base, shards, load})
    expect(moves(p).some((m) => m.shard === 1)).toBe(false)
    expect(moves(p).some((m) => m.shard === 2 && m.from === 'c')).toBe(true)
    expect(p.summary.stopDetail).toContain('belong to shards mid-move and were left for a later plan (first: shard 1 on c)')
  })

  it('given a pinned shard on an overloaded node, when planning, then that shard never moves', () => {
    const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}], shards: [{replicas: ['a'], reads: 100, bytes: 1}, ...even(3, 'a')], constraints: [{kind: 'pin', shard: 0, node: 'a'}]})
    const p = plan(snap)
    expect(moves(p).some((m) => m.shard === 0)).toBe(false)
    expect(moves(p).length).toBeGreaterThan(0)
  })

  it('given a shard on a node it is forbidden on, when planning, then it moves off first and never onto a forbidden node', () => {
    const snap = snapshotOf({
      nodes: [{id: 'a'}, {id: 'b'}, {id: 'c'}],
      shards: [...even(2, 'a'), ...even(2, 'b'), ...even(2, 'c')],
      constraints: [
        {kind: 'forbid', shard: 0, node: 'a'},
        {kind: 'forbid', shard: 0, node: 'b'},
      ],
    })
    const p = plan(snap)
    expect(moves(p)[0]).toMatchObject({shard: 0, from: 'a', to: 'c', reason: {kind: 'constraint'}})
    expect(moves(p)[0]!.reason.detail).toContain('forbidden')
  })

  it('given a pin without a replica on its node, when planning, then a replica moves there', () => {
    const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}], shards: [...even(1, 'a'), ...even(1, 'b')], constraints: [{kind: 'pin', shard: 0, node: 'b'}]})
    const p = plan(snap)
    expect(moves(p)[0]).toMatchObject({shard: 0, from: 'a', to: 'b', reason: {kind: 'constraint'}})
  })

  it('given replicas sharing a zone while enough zones exist, when planning, then one moves to the missing zone', () => {
    const snap = snapshotOf({
      rf: 2,
      nodes: [{id: 'a', zone: 'z1'}, {id: 'b', zone: 'z1'}, {id: 'c', zone: 'z2'}],
      shards: [{replicas: ['a', 'b'], reads: 1, bytes: 1}],
    })
    const p = plan(snap)
    expect(moves(p)[0]).toMatchObject({to: 'c', reason: {kind: 'constraint'}})
    expect(moves(p)[0]!.reason.detail).toContain('zone')
  })

  it('given a node over its stated capacity, when planning, then replicas leave it until it fits', () => {
    const snap = snapshotOf({nodes: [{id: 'a', capacity: {reads: 25}}, {id: 'b', capacity: {reads: 100}}], shards: [...even(4, 'a'), ...even(4, 'b')]})
    const p = plan(snap)
    expect(moves(p)[0]!.reason.kind).toBe('constraint')
    expect(after(p, 'a').reads).toBeLessThanOrEqual(25)
  })

  it('given --max-moves, when more moves would help, then the plan stops at the limit and says so', () => {
    const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}], shards: even(8, 'a')})
    const p = plan(snap, {maxMoves: 2})
    expect(p.actions).toHaveLength(2)
    expect(p.summary.stopReason).toBe('max-moves')
    expect(p.summary.stopDetail).toContain('2 move')
    // Two moves leave a at 6 of 8 shards: the plan does not reach the target, so it must not say it does.
    expect(p.summary.imbalanceAfter).toBeGreaterThan(p.summary.target)
    expect(p.summary.status).toBe('unreachable')
    expect(shortStopOf(p.summary)).toBe('max-moves')
    expect(plan(snap, {maxMoves: 4}).summary.status).toBe('needs-rebalance')
  })

  it('given --max-bytes, when the next move would exceed it, then the plan stops at the limit', () => {
    const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}], shards: even(8, 'a')})
    const p = plan(snap, {maxBytes: 2500})
    expect(p.summary.bytesToMove).toBeLessThanOrEqual(2500)
    expect(p.actions).toHaveLength(2)
    expect(p.summary.stopReason).toBe('max-bytes')
  })

  it('given a draining node whose replicas can go nowhere, when planning, then the plan reports the shard unplaceable with why, and plans everything else', () => {
    const snap = snapshotOf({
      rf: 2,
      nodes: [{id: 'a'}, {id: 'b', state: 'draining'}, {id: 'c'}],
      shards: [{replicas: ['a', 'b'], reads: 1, bytes: 1}, {replicas: ['b', 'c'], reads: 1, bytes: 1}],
      constraints: [{kind: 'forbid', shard: 0, node: 'c'}],
    })
    const p = plan(snap)
    expect(p.summary.unplaceable).toEqual([{shard: 0, node: 'b', reason: expect.stringMatching(/^cannot leave node b \(node b is draining\): of 2 other nodes: 1 forbidden by a constraint, 1 holding a replica already; /)}])
    expect(p.summary.status).toBe('unreachable')
    expect(p.summary.stopDetail).toMatch(/1 replica\(s\) must move but fit nowhere and stay \(first: shard 0 cannot leave node b/)
    // Shard 1's replica on b still leaves for a.
    expect(moves(p).map((m) => [m.shard, m.from, m.to])).toEqual([[1, 'b', 'a']])
  })

  it('given a shard pinned to a draining node, when planning, then the contradiction is reported unplaceable naming both', () => {
    const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b', state: 'draining'}], shards: [...even(1, 'b'), ...even(1, 'b')], constraints: [{kind: 'pin', shard: 0, node: 'b'}]})
    const p = plan(snap)
    expect(p.summary.unplaceable).toEqual([{shard: 0, node: 'b', reason: 'is pinned to node b, which is draining; remove the pin, or stop draining the node'}])
    expect(moves(p).map((m) => m.shard)).toEqual([1])
  })

  it('given a hot shard and no --allow-split, when planning, then the target is reported unreachable naming the shard', () => {
    const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}, {id: 'c'}], shards: [{replicas: ['a'], reads: 1000, bytes: 10}, ...even(2, 'b'), ...even(2, 'c')]})
    const p = plan(snap, {weights: {reads: 1, writes: 0, bytes: 0}})
    expect(p.summary.status).toBe('unreachable')
    expect(p.summary.stopReason).toBe('unreachable')
    expect(p.summary.stopDetail).toMatch(/^shard 0 alone carries .* on a, .*--allow-split/)
    expect(p.summary.hotShards).toEqual([expect.objectContaining({shard: 0, node: 'a', resource: 'reads', split: false})])
    // Nothing is shuffled in vain around the hot node.
    expect(moves(p).some((m) => m.from === 'a')).toBe(false)
  })

  it('given a hot shard and --allow-split, when planning, then splits come first and the halves spread out', () => {
    const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}, {id: 'c'}, {id: 'd'}], shards: [{replicas: ['a'], reads: 400, bytes: 10}, ...even(4, 'b', {reads: 25}), ...even(4, 'c', {reads: 25}), ...even(4, 'd', {reads: 25})]})
    const p = plan(snap, {allowSplit: true, weights: {reads: 1, writes: 0, bytes: 0}})
    const firstMove = p.actions.findIndex((a) => a.kind === 'move')
    const splits = p.actions.filter((a) => a.kind === 'split')
    expect(splits.length).toBeGreaterThan(0)
    expect(p.actions.slice(0, splits.length).every((a) => a.kind === 'split')).toBe(true)
    expect(firstMove).toBe(splits.length)
    expect(splits[0]).toMatchObject({shard: 0, epoch: 1, at: Math.floor(snap.shards[0]!.range.hi / 2), parts: [{shard: 0, epoch: 2}, {shard: 13, epoch: 2}]})
    // Halves of 1/8 of the hot shard cannot tile four nodes exactly; the spread still drops from 2.3 to about 1.1.
    expect(p.summary.imbalanceBefore).toBeGreaterThan(2)
    expect(p.summary.imbalanceAfter).toBeLessThanOrEqual(1.15)
    // The plan applies cleanly: later moves of the halves name the epochs the splits give them.
    const applied = applyPlan(snap, p)
    expect(applied.shards.length).toBe(13 + splits.length)
  })

  it('given a hot shard whose sampled load sits in the top quarter of its range, when --allow-split, then it splits where the load halves and predicts that', () => {
    const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}, {id: 'c'}, {id: 'd'}], shards: [{replicas: ['a'], reads: 400, bytes: 10}, ...even(4, 'b', {reads: 25}), ...even(4, 'c', {reads: 25}), ...even(4, 'd', {reads: 25})]})
    const {lo, hi} = snap.shards[0]!.range
    const quarter = lo + Math.floor(((hi - lo) * 3) / 4)
    const sample = Array.from({length: 32}, (_, i) => quarter + i * 1000)
    snap.load[0]!.keySample = sample
    const p = plan(snap, {allowSplit: true, weights: {reads: 1, writes: 0, bytes: 0}})
    const first = p.actions[0]!
    expect(first.kind).toBe('split')
    if (first.kind !== 'split') return
    // The midpoint would leave all the load in the upper half; the load median cuts it in two.
    expect(first.at).toBe(sample[16])
    expect(first.loadBelow).toBe(0.5)
    expect(first.reason.detail).toContain('split where its sampled load halves (50% below)')
    expect(p.summary.imbalanceAfter).toBeLessThanOrEqual(1.15)
    // The prediction is the plan's own: applying it gives the per-node load the plan states.
    const applied = nodeTotals(applyPlan(snap, p))
    for (const n of p.nodes) expect(applied.get(n.id)!.reads).toBeCloseTo(n.after.reads, 6)
  })

  it('given a hot shard driven by one key, when --allow-split, then the hot key is reported and the shard is not split blindly', () => {
    const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}, {id: 'c'}], shards: [{replicas: ['a'], reads: 1000, bytes: 10}, ...even(2, 'b'), ...even(2, 'c')]})
    const {lo} = snap.shards[0]!.range
    snap.load[0]!.keySample = [...Array.from({length: 8}, (_, i) => lo + i), ...Array(24).fill(lo + 5000)].sort((a, b) => a - b)
    const p = plan(snap, {allowSplit: true, weights: {reads: 1, writes: 0, bytes: 0}})
    expect(p.actions.filter((a) => a.kind === 'split')).toEqual([])
    expect(p.summary.hotShards).toEqual([expect.objectContaining({shard: 0, hotKey: {hash: lo + 5000, share: 0.75}})])
    expect(p.summary.status).toBe('unreachable')
    expect(p.summary.stopDetail).toContain(`one key (hash ${lo + 5000}) takes 75% of its sampled requests, and no split can divide a key`)
  })

  it('given a zone with too little capacity for its share under the zone spread, when planning, then the message names the zone', () => {
    const snap = snapshotOf({
      rf: 2,
      nodes: [{id: 'a', zone: 'z0'}, {id: 'b', zone: 'z0'}, {id: 'c', zone: 'z1'}],
      shards: Array.from({length: 8}, (_, i) => ({replicas: [i % 2 ? 'a' : 'b', 'c'], reads: 10, bytes: 10})),
    })
    const p = plan(snap)
    expect(p.summary.status).toBe('unreachable')
    expect(p.summary.stopDetail).toContain("zone z1's nodes average 1.50x the mean and replicas cannot leave their zone")
  })

  it('given nodes stuck with shards no node has room for whole, when --allow-split, then the planner splits them and gets closer', () => {
    // No shard is hot on its own (each fits a node), but whole shards cannot tile the nodes within 1.10.
    const reads = [50, 10, 70, 20, 70, 60]
    const on = ['b', 'c', 'c', 'c', 'a', 'c']
    const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}, {id: 'c'}], shards: reads.map((r, i) => ({replicas: [on[i]!], reads: r}))})
    const options = {weights: {reads: 1, writes: 0, bytes: 0}}
    const without = plan(snap, options)
    expect(without.summary.status).toBe('unreachable')
    expect(without.summary.hotShards).toEqual([])
    expect(without.summary.stopDetail).toContain('--allow-split may help')
    const withSplit = plan(snap, {...options, allowSplit: true})
    expect(withSplit.summary.splits).toBeGreaterThan(0)
    expect(withSplit.summary.status).toBe('needs-rebalance')
    expect(withSplit.summary.imbalanceAfter).toBeLessThanOrEqual(1.1)
  })

  it('given the same snapshot twice, or with nodes and shards listed in another order, when planning, then the plans are byte-identical', () => {
    const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}, {id: 'c', zone: 'z1'}], shards: [...even(5, 'a'), ...even(2, 'c'), {replicas: ['b'], reads: 40, bytes: 5}]})
    const reordered = {...snap, nodes: [...snap.nodes].reverse(), shards: [...snap.shards].reverse(), load: [...snap.load].reverse()}
    const a = JSON.stringify(plan(snap))
    expect(JSON.stringify(plan(snap))).toBe(a)
    expect(JSON.stringify(plan(reordered))).toBe(a)
  })

  it('given a plan, when applied to its snapshot, then node loads equal the predicted after figures', () => {
    const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}, {id: 'c', state: 'draining'}], shards: [...even(5, 'a', {reads: 7}), ...even(1, 'b'), ...even(2, 'c', {writes: 3})]})
    const p = plan(snap)
    const totals = nodeTotals(applyPlan(snap, p))
    for (const n of p.nodes) {
      const t = totals.get(n.id)!
      expect(n.after.replicas).toBe(t.replicas)
      expect(n.after.reads).toBeCloseTo(t.reads, 6)
      expect(n.after.writes).toBeCloseTo(t.writes, 6)
      expect(n.after.bytes).toBeCloseTo(t.bytes, 6)
    }
  })

  it('given bad options, when planning, then a BAD_INPUT error names the option', () => {
    const snap = snapshotOf({nodes: [{id: 'a'}], shards: even(1, 'a')})
    expect(() => plan(snap, {maxImbalance: 0.5})).toThrow(/plan option maxImbalance/)
    expect(() => plan(snap, {weights: {reads: 0, writes: 0, bytes: 0}})).toThrow(/weights/)
  })

  it('given a balance plan, when summarised, then it carries the ring baseline for comparison', () => {
    const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}], shards: even(6, 'a')})
    expect(plan(snap).summary.baseline).toMatchObject({strategy: 'ring'})
    expect(planRebalance(snap, {}, meta, {baseline: false}).summary.baseline).toBeNull()
  })
})

describe('planRebalance (ring)', () => {
  it('given the ring strategy, when planning, then every shard ends on its consistent-hash placement', () => {
    const nodes = [{id: 'a', zone: 'z1'}, {id: 'b', zone: 'z2'}, {id: 'c', zone: 'z3'}, {id: 'd', zone: 'z1'}, {id: 'e', zone: 'z2'}, {id: 'f', zone: 'z3'}]
    const shards = Array.from({length: 20}, () => ({replicas: ['a', 'b', 'c'], reads: 1, bytes: 10}))
    const snap = snapshotOf({rf: 3, nodes, shards})
    const p = plan(snap, {strategy: 'ring'})
    expect(p.summary.stopReason).toBe('ring-complete')
    expect(p.summary.baseline).toBeNull()
    expect(moves(p).every((m) => m.reason.kind === 'ring')).toBe(true)
    const ring = new PlacementRing(nodes)
    const applied = applyPlan(snap, p)
    for (const s of applied.shards) expect(s.replicas.map((r) => r.node).sort()).toEqual(ring.replicasFor(s.id, 3).sort())
  })

  it('given shards already on their ring placement but a skewed load, when planning, then the empty ring plan is unreachable, not needs-rebalance', () => {
    const nodes = [{id: 'a', zone: 'z0'}, {id: 'b', zone: 'z0'}, {id: 'c', zone: 'z0'}]
    const ring = new PlacementRing(nodes)
    const shards = Array.from({length: 9}, (_, id) => ({replicas: ring.replicasFor(id, 1), reads: id === 0 ? 60 : 10, bytes: 10}))
    const p = plan(snapshotOf({nodes, shards}), {strategy: 'ring'})
    expect(p.actions).toEqual([])
    expect(p.summary.imbalanceAfter).toBeGreaterThan(p.summary.target)
    expect(p.summary.status).toBe('unreachable')
    expect(shortStopOf(p.summary)).toBe('ring-complete')
  })

  it('given a fresh cluster with no load at all, when planning, then nothing is outside the band: balance says balanced, ring moves shards to their placement and reaches the target', () => {
    const nodes = [{id: 'a', zone: 'z0'}, {id: 'b', zone: 'z0'}, {id: 'c', zone: 'z0'}]
    const shards = Array.from({length: 6}, () => ({replicas: ['a'], reads: 0, writes: 0, bytes: 0}))
    const snap = snapshotOf({nodes, shards})
    const balance = plan(snap)
    expect(balance.actions).toEqual([])
    expect(balance.summary.status).toBe('balanced')
    const ring = plan(snap, {strategy: 'ring'})
    expect(moves(ring).length).toBeGreaterThan(0)
    expect(ring.summary.status).toBe('needs-rebalance')
    expect(shortStopOf(ring.summary)).toBeNull()
  })
})
