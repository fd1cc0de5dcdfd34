import {describe, expect, it} from 'vitest'
import {EMPTY_HISTORY, type AutopilotHistory} from '../../src/autopilot/autopilotState.js'
import {type AutopilotPolicy, decide, HOUR_MS, type Observation} from '../../src/autopilot/decide.js'
import {verifyPlanHash} from '../../src/model/plan.js'
import {type ClusterSnapshot} from '../../src/model/snapshot.js'
import {applyPlan} from '../../src/planner/applyPlan.js'
import {snapshotOf, type NodeSpec, type ShardSpec} from '../planner/snapshotBuilder.js'

const policy: AutopilotPolicy = {deadAfterMs: 5000, rebalanceAbove: 1.2, forMs: 10_000, coolDownMs: 60_000, maxBytesPerHour: null, planOptions: {}}
const T0 = Date.parse('2026-01-01T00:00:00Z')

function observe(snapshot: ClusterSnapshot, now: number, over: Partial<Observation> = {}): Observation {
  return {now, snapshot, unfinishedMoves: 0, executorHolder: null, paused: false, inWindow: true, ...over}
}

/** fiveNodes: rf 3 over n1..n5, every shard the same load, n5 possibly down. */
function fiveNodes(n5: Partial<NodeSpec> = {}, shardCount = 10): ClusterSnapshot {
  const ids = ['n1', 'n2', 'n3', 'n4', 'n5']
  const shards: ShardSpec[] = Array.from({length: shardCount}, (_, i) => ({replicas: [ids[i % 5]!, ids[(i + 1) % 5]!, ids[(i + 2) % 5]!], reads: 10, writes: 10, bytes: 1000}))
  return snapshotOf({rf: 3, nodes: ids.map((id) => (id === 'n5' ? {id, ...n5} : {id})), shards})
}

function holders(s: ClusterSnapshot, node: string): number {
  return s.shards.filter((sh) => sh.replicas.some((r) => r.node === node)).length
}

describe('decide: self-healing', () => {
  it('given a node down for less than --dead-after, then nothing moves, and a node back in time is forgotten', () => {
    const down = fiveNodes({alive: false})
    const first = decide(observe(down, T0), EMPTY_HISTORY, policy)
    expect(first.decision.kind).toBe('idle')
    expect(first.decision.reason).toMatch(/node n5 is down for 0s; left alone/)
    expect(first.history.downSince).toEqual({n5: T0})
    expect(first.underReplicated).toBe(holders(down, 'n5'))
    const later = decide(observe(down, T0 + 4999), first.history, policy)
    expect(later.decision.kind).toBe('idle')
    // Back up at 4.9 s: forgotten, so a later outage starts its own clock.
    const back = decide(observe(fiveNodes(), T0 + 4999), later.history, policy)
    expect(back.history.downSince).toEqual({})
    expect(back.underReplicated).toBe(0)
    const again = decide(observe(down, T0 + 6000), back.history, policy)
    expect(again.decision.kind).toBe('idle')
    expect(again.history.downSince).toEqual({n5: T0 + 6000})
  })

  it('given a node down past --dead-after, then every replica it held is re-created on live nodes, rf restored', () => {
    const down = fiveNodes({alive: false})
    const first = decide(observe(down, T0), EMPTY_HISTORY, policy)
    const step = decide(observe(down, T0 + 5000), first.history, policy)
    expect(step.decision.kind).toBe('heal')
    if (step.decision.kind !== 'heal') return
    expect(step.decision.markDraining).toEqual(['n5'])
    expect(step.decision.reason).toMatch(/node n5 down for 5s \(dead after 5s\), 6 replica\(s\)/)
    const plan = step.decision.plan
    expect(verifyPlanHash(plan)).toBe(true)
    expect(plan.actions.every((a) => a.kind === 'move' && a.from === 'n5')).toBe(true)
    const healed = applyPlan(down, plan)
    expect(holders(healed, 'n5')).toBe(0)
    for (const s of healed.shards) {
      const nodes = s.replicas.map((r) => r.node)
      expect(new Set(nodes).size).toBe(3)
      expect(nodes.every((n) => n !== 'n5')).toBe(true)
    }
    // Its moves are budgeted and cool down like any other.
    expect(Object.keys(step.history.movedAt).sort()).toEqual(plan.actions.map((a) => String(a.shard)).sort())
    expect(step.history.spent).toEqual([{at: T0 + 5000, bytes: plan.summary.bytesToMove}])
  })

  it('given the down-since time from a previous leader, then the new leader does not restart the clock', () => {
    const down = fiveNodes({alive: false})
    const inherited: AutopilotHistory = {...EMPTY_HISTORY, downSince: {n5: T0 - 60_000}}
    expect(decide(observe(down, T0), inherited, policy).decision.kind).toBe('heal')
  })

  it('given two dead nodes, then the shards left with one live replica move first', () => {
    const ids = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6']
    // Shards 0-3 lose one replica (n6); shard 4 loses two (n5 and n6): it is the most at risk.
    const shards: ShardSpec[] = [
      {replicas: ['n1', 'n2', 'n6'], bytes: 5000},
      {replicas: ['n2', 'n3', 'n6'], bytes: 5000},
      {replicas: ['n3', 'n4', 'n6'], bytes: 5000},
      {replicas: ['n4', 'n1', 'n6'], bytes: 5000},
      {replicas: ['n1', 'n5', 'n6'], bytes: 10},
    ]
    const snap = snapshotOf({rf: 3, nodes: ids.map((id) => ({id, alive: id !== 'n5' && id !== 'n6'})), shards})
    const step = decide(observe(snap, T0), {...EMPTY_HISTORY, downSince: {n5: T0 - 10_000, n6: T0 - 10_000}}, policy)
    expect(step.decision.kind).toBe('heal')
    if (step.decision.kind !== 'heal') return
    expect(step.decision.markDraining).toEqual(['n5', 'n6'])
    const order = step.decision.plan.actions.map((a) => a.shard)
    // The planner alone puts the small shard last (largest first); risk puts both its moves first.
    expect(order.slice(0, 2)).toEqual([4, 4])
    expect(holders(applyPlan(snap, step.decision.plan), 'n6')).toBe(0)
  })

  it('given a node an operator marked draining (alive), then it is emptied without being marked again', () => {
    const step = decide(observe(fiveNodes({state: 'draining'}), T0), EMPTY_HISTORY, policy)
    expect(step.decision.kind).toBe('heal')
    if (step.decision.kind !== 'heal') return
    expect(step.decision.markDraining).toEqual([])
    expect(step.decision.reason).toMatch(/node n5 is draining/)
    expect(holders(applyPlan(fiveNodes(), step.decision.plan), 'n5')).toBe(0)
  })

  it('given a dead node whose replicas fit nowhere (rf 3 on 3 live nodes), then it says why and moves nothing', () => {
    const ids = ['n1', 'n2', 'n3', 'n4']
    const snap = snapshotOf({rf: 3, nodes: ids.map((id) => ({id, alive: id !== 'n4'})), shards: [{replicas: ['n1', 'n2', 'n4']}, {replicas: ['n1', 'n3', 'n4']}, {replicas: ['n1', 'n2', 'n3']}]})
    const step = decide(observe(snap, T0), {...EMPTY_HISTORY, downSince: {n4: 0}}, policy)
    // n3 / n2 are free for shards 0 / 1: those heal; add the fourth shard that cannot.
    expect(step.decision.kind).toBe('heal')
    const full = snapshotOf({rf: 3, nodes: ['n1', 'n2', 'n3'].map((id) => ({id, alive: id !== 'n3'})), shards: [{replicas: ['n1', 'n2', 'n3']}]})
    const stuck = decide(observe(full, T0), {...EMPTY_HISTORY, downSince: {n3: 0}}, policy)
    expect(stuck.decision.kind).toBe('idle')
    expect(stuck.decision.reason).toMatch(/cannot heal now: 1 replica\(s\) fit nowhere/)
  })
})

describe('decide: guard rails and deference', () => {
  const dead = fiveNodes({alive: false})
  const deadHistory: AutopilotHistory = {...EMPTY_HISTORY, downSince: {n5: T0 - 60_000}}

  it('given the pause switch, a held executor lock or a closed window, then it waits and says why', () => {
    expect(decide(observe(dead, T0, {paused: true}), deadHistory, policy).decision).toMatchObject({kind: 'wait', reason: expect.stringMatching(/paused/)})
    expect(decide(observe(dead, T0, {executorHolder: 'shardctl apply plans/x.json'}), deadHistory, policy).decision).toMatchObject({kind: 'wait', reason: expect.stringMatching(/held by shardctl apply/)})
    expect(decide(observe(dead, T0, {inWindow: false}), deadHistory, policy).decision).toMatchObject({kind: 'wait', reason: expect.stringMatching(/maintenance window/)})
  })

  it('given recorded moves nobody runs, then it resumes them before planning anything new', () => {
    expect(decide(observe(dead, T0, {unfinishedMoves: 3}), deadHistory, policy).decision).toMatchObject({kind: 'resume', reason: expect.stringMatching(/3 recorded move/)})
    expect(decide(observe(dead, T0, {unfinishedMoves: 3, inWindow: false}), deadHistory, policy).decision.kind).toBe('wait')
  })

  it('given a bytes-per-hour budget, then plans stay inside it and a spent budget waits until the hour has passed', () => {
    const budget = {...policy, maxBytesPerHour: 2500}
    const step = decide(observe(dead, T0), deadHistory, budget)
    expect(step.decision.kind).toBe('heal')
    if (step.decision.kind !== 'heal') return
    expect(step.decision.plan.summary.bytesToMove).toBeLessThanOrEqual(2500)
    expect(step.decision.plan.summary.moves).toBe(2)
    const spent = decide(observe(dead, T0 + 1000), {...step.history, spent: [{at: T0, bytes: 2500}]}, budget)
    expect(spent.decision).toMatchObject({kind: 'wait', reason: expect.stringMatching(/budget is spent/)})
    const hourLater = decide(observe(dead, T0 + HOUR_MS), {...step.history, spent: [{at: T0, bytes: 2500}]}, budget)
    expect(hourLater.decision.kind).toBe('heal')
  })
})

describe('decide: balance with hysteresis', () => {
  /** skewed: 4 nodes, shard 0 (on n1) hot; the rest even. */
  function skewed(hot: number): ClusterSnapshot {
    const ids = ['n1', 'n2', 'n3', 'n4']
    const shards: ShardSpec[] = Array.from({length: 8}, (_, i) => ({replicas: [ids[i % 4]!], reads: i < 2 ? hot : 100, writes: 0, bytes: 0}))
    return snapshotOf({rf: 1, nodes: ids.map((id) => ({id})), shards})
  }
  const reads = {...policy, planOptions: {weights: {reads: 1, writes: 0, bytes: 0}}}

  it('given an imbalance above the mark, then it rebalances only after it stayed there for --for, down to the normal target', () => {
    const snap = skewed(300) // n1 holds 300+100 of a mean 300: 1.33x; n2 too.
    const s1 = decide(observe(snap, T0), EMPTY_HISTORY, reads)
    expect(s1.decision.kind).toBe('idle')
    expect(s1.decision.reason).toMatch(/imbalance 1\.33x above 1\.20x for 0s of 10s/)
    expect(s1.imbalance).toBeCloseTo(4 / 3)
    const s2 = decide(observe(snap, T0 + 9999), s1.history, reads)
    expect(s2.decision.kind).toBe('idle')
    const s3 = decide(observe(snap, T0 + 10_000), s2.history, reads)
    expect(s3.decision.kind).toBe('rebalance')
    if (s3.decision.kind !== 'rebalance') return
    expect(s3.decision.plan.summary.imbalanceAfter).toBeLessThanOrEqual(1.1)
    expect(s3.history.aboveSince).toBeNull()
    // Applied, the cluster is inside the band: it settles, however long it watches.
    const after = applyPlan(snap, s3.decision.plan)
    let h = s3.history
    for (let t = T0 + 11_000; t < T0 + 200_000; t += 7000) {
      const s = decide(observe(after, t), h, reads)
      expect(s.decision.kind, s.decision.reason).toBe('idle')
      h = s.history
    }
  })

  it('given an imbalance just off the mark, then the reason shows the digits that tell it from the mark (it printed "1.20x above 1.20x")', () => {
    // skewed(h): n1 and n2 at 2(h + 100) / (h + 300) of the mean.
    expect(decide(observe(skewed(200.25), T0), EMPTY_HISTORY, reads).decision.reason).toMatch(/^imbalance 1\.2004x above 1\.20x for 0s of 10s$/)
    expect(decide(observe(skewed(199.75), T0), EMPTY_HISTORY, reads).decision.reason).toBe('imbalance 1.1996x is not above 1.20x')
  })

  it('given an imbalance that dips below the mark, then the --for clock restarts', () => {
    const s1 = decide(observe(skewed(300), T0), EMPTY_HISTORY, reads)
    const dip = decide(observe(skewed(100), T0 + 6000), s1.history, reads)
    expect(dip.history.aboveSince).toBeNull()
    const s3 = decide(observe(skewed(300), T0 + 12_000), dip.history, reads)
    expect(s3.decision.kind).toBe('idle')
    expect(decide(observe(skewed(300), T0 + 22_000), s3.history, reads).decision.kind).toBe('rebalance')
  })

  it('given an imbalance between the normal target and the mark, then it never rebalances (no flapping)', () => {
    // 1.15x: outside the planner's 1.10 target, inside the 1.20 mark.
    const snap = skewed(130)
    let h = EMPTY_HISTORY
    for (let t = T0; t < T0 + 120_000; t += 5000) {
      const s = decide(observe(snap, t), h, reads)
      expect(s.decision.kind).toBe('idle')
      h = s.history
    }
  })

  it('given shards moved within the cool-down, then the next plan leaves them where they are', () => {
    const snap = skewed(300)
    const s = decide(observe(snap, T0), {...EMPTY_HISTORY, aboveSince: T0 - 20_000}, reads)
    expect(s.decision.kind).toBe('rebalance')
    if (s.decision.kind !== 'rebalance') return
    const first = new Set(s.decision.plan.actions.map((a) => a.shard))
    // The load follows the data in this snapshot (the hot keys stayed hot where they were): a
    // planner without cool-down would move the same shards again.
    const again = decide(observe(snap, T0 + 30_000), {...s.history, aboveSince: T0}, reads)
    if (again.decision.kind === 'rebalance') for (const a of again.decision.plan.actions) expect(first.has(a.shard)).toBe(false)
    else expect(again.decision.reason).toMatch(/cooling down/)
    // Past the cool-down they may move again.
    const cooled = decide(observe(snap, T0 + 61_000), {...s.history, aboveSince: T0}, reads)
    expect(cooled.decision.kind).toBe('rebalance')
    if (cooled.decision.kind !== 'rebalance') return
    expect(Object.keys(cooled.history.movedAt).sort()).toEqual(cooled.decision.plan.actions.map((a) => String(a.shard)).sort())
  })

  it('given a master named by an unacknowledged data-loss warning, then no move is planned onto or off it, and every reason says why and the way out', () => {
    const snap = skewed(300) // n1 and n2 hot: a plan moves load off them onto n3 and n4.
    const free = decide(observe(snap, T0), {...EMPTY_HISTORY, aboveSince: T0 - 20_000}, reads)
    expect(free.decision.kind).toBe('rebalance')
    if (free.decision.kind !== 'rebalance') return
    const touching = (node: string) => free.decision.kind === 'rebalance' && free.decision.plan.actions.some((a) => JSON.stringify(a).includes(`"${node}"`))
    expect(touching('n1') || touching('n3')).toBe(true)
    for (const node of ['n1', 'n3']) {
      const s = decide(observe(snap, T0, {heldMasters: [{node, move: 'm7'}]}), {...EMPTY_HISTORY, aboveSince: T0 - 20_000}, reads)
      expect(s.decision.reason).toMatch(new RegExp(`no move onto or off ${node} \\(move m7\\): a warning says it restarted without persistence and may have lost keys; check them, then \`shardctl moves ack m7\`$`))
      if (s.decision.kind === 'rebalance') for (const a of s.decision.plan.actions) expect(JSON.stringify(a)).not.toContain(`"${node}"`)
    }
    // Every node held: nothing can move, and it says so.
    const all = decide(observe(snap, T0, {heldMasters: ['n1', 'n2', 'n3', 'n4'].map((node) => ({node, move: 'm7'}))}), {...EMPTY_HISTORY, aboveSince: T0 - 20_000}, reads)
    expect(all.decision.kind).toBe('idle')
    // A held node that is draining is not drained either.
    const draining = snapshotOf({rf: 1, nodes: [{id: 'n1', state: 'draining'}, {id: 'n2'}], shards: [{replicas: ['n1']}, {replicas: ['n2']}]})
    expect(decide(observe(draining, T0), EMPTY_HISTORY, policy).decision.kind).toBe('heal')
    expect(decide(observe(draining, T0, {heldMasters: [{node: 'n1', move: 'm7'}]}), EMPTY_HISTORY, policy).decision.kind).not.toBe('heal')
  })

  it('given several moves whose warnings hold masters, then the reason names every `moves ack` needed (the first 5, then how many more), each move once', () => {
    const snap = skewed(300)
    const hist = {...EMPTY_HISTORY, aboveSince: T0 - 20_000}
    // n1 held by m7 and m8 (m7 twice: two restarts), n3 by m9: three acks are needed, not only m7's.
    const three = decide(observe(snap, T0, {heldMasters: [{node: 'n1', move: 'm7'}, {node: 'n1', move: 'm8'}, {node: 'n1', move: 'm7'}, {node: 'n3', move: 'm9'}]}), hist, reads)
    expect(three.decision.reason).toMatch(/no move onto or off n1 \(moves m7, m8\), n3 \(move m9\): a warning says it restarted without persistence and may have lost keys; check them, then `shardctl moves ack m7`, `shardctl moves ack m8`, `shardctl moves ack m9`$/)
    // Eight moves on one master: the first 5 commands, then the count left and where the rest are listed.
    const eight = decide(observe(snap, T0, {heldMasters: Array.from({length: 8}, (_, i) => ({node: 'n1', move: `m${i + 1}`}))}), hist, reads)
    expect(eight.decision.reason).toMatch(/no move onto or off n1 \(moves m1, m2, m3, m4, m5 and 3 more\): .*; check them, then `shardctl moves ack m1`, `shardctl moves ack m2`, `shardctl moves ack m3`, `shardctl moves ack m4`, `shardctl moves ack m5` and 3 more \(`cluster status` lists every one\)$/)
  })

  it('given a node down (not yet dead), then no rebalance is planned on its missing load', () => {
    const ids = ['n1', 'n2', 'n3', 'n4']
    const snap = snapshotOf({rf: 1, nodes: ids.map((id) => ({id, alive: id !== 'n4'})), shards: Array.from({length: 8}, (_, i) => ({replicas: [ids[i % 4]!], reads: i < 2 ? 300 : 100}))})
    const s = decide(observe(snap, T0), {...EMPTY_HISTORY, aboveSince: T0 - 60_000}, reads)
    expect(s.decision.kind).toBe('idle')
    expect(s.history.aboveSince).toBeNull()
  })
})

describe('decide: nowhere to heal to', () => {
  it('given the only node dead, then it keeps watching and says why instead of failing', () => {
    const snap = snapshotOf({rf: 1, nodes: [{id: 'n1', alive: false}], shards: [{replicas: ['n1']}]})
    const s = decide(observe(snap, T0), {...EMPTY_HISTORY, downSince: {n1: 0}}, policy)
    expect(s.decision).toMatchObject({kind: 'idle', reason: expect.stringMatching(/cannot heal now: .*draining/)})
  })
})
