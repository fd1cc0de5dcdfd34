import {describe, expect, it} from 'vitest'
import {decideSplit} from '../../src/executor/splitShard.js'
import {preflightPlan} from '../../src/executor/planPreflight.js'
import {EPOCH_STEPS, verifyPlanHash} from '../../src/model/plan.js'
import {type Shard} from '../../src/model/shard.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {snapshotOf} from '../planner/snapshotBuilder.js'
import {splitDrainPlan} from './splitPlan.js'

describe('splitDrainPlan', () => {
  const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'].map((id) => ({id, state: id === 'n5' ? ('draining' as const) : ('active' as const)}))
  const snapshot = snapshotOf({nodes, shards: Array.from({length: 6}, (_, i) => ({replicas: ['n5', `n${(i % 4) + 1}`, `n${((i + 1) % 4) + 1}`], bytes: 1000}))})
  const drain = planRebalance(snapshot, {drainOnly: true}, {id: 'drain-n5', createdAt: '2025-01-01T00:00:00.000Z'})
  const cut = (s: Shard, f: number) => s.range.lo + Math.floor((s.range.hi - s.range.lo) * f)
  const [a, b, c] = snapshot.shards
  const {plan, parts} = splitDrainPlan(drain, snapshot.shards, snapshot.cluster.nextShardId, [
    {shard: a!.id, kind: 'upper-again', cuts: [cut(a!, 1 / 3), cut(a!, 2 / 3)]},
    {shard: b!.id, kind: 'lower-again', cuts: [cut(b!, 2 / 3), cut(b!, 1 / 3)]},
    {shard: c!.id, kind: 'once', cuts: [cut(c!, 1 / 2)]},
  ])

  it('Given a drain plan, When three of its shards are split (two twice), Then every action passes the executor preflight and the hash verifies', () => {
    expect(verifyPlanHash(plan)).toBe(true)
    const pre = preflightPlan(plan, snapshot.shards, new Set(nodes.map((n) => n.id)), EPOCH_STEPS)
    expect(pre.verdicts.filter((v) => !v.ok)).toEqual([])
    expect(plan.actions.filter((x) => x.kind === 'split')).toHaveLength(5)
    // Every part is moved off n5 once; the created ids' moves come before the parents'.
    expect(parts).toHaveLength(8)
    const moves = plan.actions.filter((x) => x.kind === 'move')
    expect(moves.filter((m) => m.from === 'n5')).toHaveLength(moves.length)
    const firstParent = moves.findIndex((m) => parts.some((p) => p.shard === m.shard && !p.created))
    expect(moves.slice(0, firstParent).every((m) => parts.some((p) => p.shard === m.shard && p.created))).toBe(true)
  })

  it('Given the split actions, When applied in order as the executor does (decideSplit), Then each one applies and the parts tile their parents', () => {
    const map = new Map(snapshot.shards.map((s) => [s.id, s]))
    let meta = snapshot.cluster
    for (const act of plan.actions) {
      if (act.kind !== 'split') continue
      const d = decideSplit(act, map.get(act.shard), map.get(act.parts[1].shard), meta)
      expect(d.kind).toBe('apply')
      if (d.kind !== 'apply') return
      map.set(d.lower.id, d.lower).set(d.upper.id, d.upper)
      meta = d.meta
    }
    for (const p of parts) expect(map.get(p.shard)).toMatchObject({range: p.range, epoch: p.epoch})
    const ranges = [...map.values()].map((s) => s.range).sort((x, y) => x.lo - y.lo)
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]!.lo).toBe(ranges[i - 1]!.hi)
  })
})
