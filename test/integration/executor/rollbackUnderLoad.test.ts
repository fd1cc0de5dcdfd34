import {setTimeout as sleepFor} from 'node:timers/promises'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {setNodeState} from '../../../src/cluster/nodeService.js'
import {grantLease, type LeaseHandle} from '../../../src/etcd/leaseHandle.js'
import {readSnapshot} from '../../../src/cluster/snapshotService.js'
import {type ApplyInput, type ApplyResult, executePlan} from '../../../src/executor/executePlan.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEvent} from '../../../src/executor/executorEnv.js'
import {requestRollback} from '../../../src/executor/moveStore.js'
import {type Move, MoveSchema} from '../../../src/model/move.js'
import {type Plan} from '../../../src/model/plan.js'
import {type Shard} from '../../../src/model/shard.js'
import {planRebalance} from '../../../src/planner/planRebalance.js'
import {ExecutorsOfTest} from '../../support/executorAbort.js'
import {runWorkload} from '../../support/workload.js'
import {expectDigestsAgree, expectWorkloadIntact, waitForHintsDrained} from '../../support/workloadChecks.js'
import {DataPlane, waitFor} from '../router/dataPlane.js'

/**
 * `moves rollback` after release, under client load, on real node processes and a real
 * router (the executor runs in this process). Interleaving: a move cuts over (E+2) and
 * releases its source (E+3: the source is `leaving` and gets no writes); clients keep
 * writing, so for a while every acknowledged write of the shard lives on the new set only
 * (at rf 1: on the destination alone). Then the rollback: the source re-joins the write set
 * (rb-joining, E+4, barrier), is caught up from the destination, reads flip back to the old
 * set (rb-cutover, E+5) and the destination leaves and drops its copy. At the first
 * rb-joining the executor is stopped right after that commit and a new one resumes
 * (`apply --resume`), so the barrier and the catch-up of that phase run in the resumed
 * executor. Every client is a sequential writer of its own keys, so a read returning
 * anything but its last acknowledged value is a stale read (or a lost write); afterwards
 * every last acknowledged value reads back, no request failed, and the old replicas agree.
 *
 * Can fail: with the catch-up skipped (catchUpSource a no-op) the rf 1 case loses the
 * writes acknowledged between release and rollback (stale reads, wrong read-back); with
 * rb-joining's barrier skipped, writes still routed at E+3 may land after the catch-up.
 */

// Every executor a test starts is aborted when the test ends, so a timed-out test never keeps the executor lock.
const executors = new ExecutorsOfTest()

function input(plan: Plan | undefined): ApplyInput {
  return {
    plan,
    limits: {maxConcurrent: 2, perNode: 2},
    throttle: null,
    nodeThrottle: null,
    // A long cleanup grace: every move waits in `draining` until the test asks for its rollback.
    options: {...DEFAULT_EXECUTOR_OPTIONS, drainTimeoutMs: 2000, barrierTimeoutMs: 20_000, cleanupGraceMs: 60_000},
    confirm: async () => true,
    holder: 'rollback-under-load',
  }
}

async function movesOf(dp: DataPlane, plan: string): Promise<Move[]> {
  return (await dp.ctx.store.listTyped(dp.ctx.keys.movesPrefix, MoveSchema)).items.map((i) => i.value).filter((m) => m.plan === plan)
}

describe.each([
  {rf: 1, nodes: 3, shards: 6},
  {rf: 3, nodes: 4, shards: 4},
])('rollback after release under load, rf $rf', {timeout: 240_000}, ({rf, nodes, shards}) => {
  let dp: DataPlane
  let router: string

  beforeAll(async () => {
    dp = new DataPlane(inject('etcdEndpoint'), `rb-load-rf${rf}`)
    await dp.init(nodes, shards, rf)
    router = (await dp.startRouter('r1')).address
  }, 90_000)
  afterAll(() => dp?.teardown())

  /** drainBusiest marks the node holding the most replicas draining (so a drain plan has several moves). */
  async function drainBusiest(shardList: readonly Shard[]): Promise<void> {
    const held = (id: string) => shardList.filter((s) => s.replicas.some((r) => r.node === id)).length
    const drained = Array.from({length: nodes}, (_, i) => `n${i + 1}`).sort((a, b) => held(b) - held(a))[0]!
    await setNodeState(dp.ctx, drained, 'draining')
  }

  it('rolls every move of a drain back from draining while clients write and read: no acknowledged write lost, no stale read, no request failed', async () => {
    const initial = await dp.shards()
    const before = new Map(initial.map((s) => [s.id, s.replicas]))
    await drainBusiest(initial)
    const plan = planRebalance(await readSnapshot(dp.ctx), {drainOnly: true}, {id: `rb-load-rf${rf}`, createdAt: new Date().toISOString()})
    const planned = plan.actions.filter((a) => a.kind === 'move')
    expect(planned.length).toBeGreaterThan(1)

    const stop = new AbortController()
    const load = runWorkload(router, {workers: 4, keysPerWorker: 25, maxOps: 40_000, maxMs: 150_000, stop: stop.signal})
    await sleepFor(500)

    const events: ExecutorEvent[] = []
    const deps = {now: () => Date.now(), sleep: (ms: number, s?: AbortSignal) => sleepFor(ms, undefined, {signal: s}).catch(() => {}), emit: (e: ExecutorEvent) => events.push(e)}
    const first = new AbortController()
    const firstRun = executors.start((signal) => executePlan(dp.ctx, input(plan), deps, signal), first.signal)

    // The test's operator: a move that has sat in `draining` for a while (clients wrote to the
    // new set only meanwhile) is asked to roll back; the first move seen in rb-joining stops
    // the executor right after that commit.
    const drainingSince = new Map<string, number>()
    let stoppedAt: Move | undefined
    let rolledBack: ApplyResult | undefined
    const operator = (async () => {
      for (let i = 0; i < 2400; i++) {
        const all = await movesOf(dp, plan.id)
        for (const m of all) {
          if (m.phase === 'draining' && !m.rollbackRequested) {
            const since = drainingSince.get(m.id) ?? Date.now()
            drainingSince.set(m.id, since)
            if (Date.now() - since > 1500) await requestRollback(dp.ctx, m.id)
          }
          if (m.phase === 'rb-joining' && !stoppedAt) {
            stoppedAt = m
            first.abort()
          }
        }
        if (all.length === planned.length && all.every((m) => m.phase === 'rolledback')) return
        await sleepFor(50)
      }
      throw new Error('the moves did not all roll back in time')
    })()

    await firstRun
    expect(stoppedAt, 'a move reached rb-joining before the first executor ended').toBeDefined()
    // The resumed executor (`apply --resume`: no plan) takes every unfinished move from its persisted phase.
    rolledBack = await waitFor(async () => executors.start((signal) => executePlan(dp.ctx, input(undefined), deps, signal)).catch((err: {code?: string}) => (err.code === 'LOCK_HELD' ? undefined : Promise.reject(err))), 'the resumed executor', 30_000)
    await operator
    stop.abort()
    const report = await load

    const all = await movesOf(dp, plan.id)
    expect(all.map((m) => [m.id, m.phase])).toEqual(all.map((m) => [m.id, 'rolledback']))
    expect(rolledBack).toBeDefined()
    const after = await dp.shards()
    for (const s of after) {
      expect(s.replicas.every((r) => r.role === 'voter')).toBe(true)
      expect(s.replicas, `shard ${s.id}`).toEqual(before.get(s.id))
    }
    // Strict, before any read-back could repair a lag: the router's hints delivered, the replicas agree.
    await waitForHintsDrained(router)
    await expectDigestsAgree(dp, after as Shard[])
    console.info(`rollback under load rf ${rf}: ${report.writesAcked} writes acknowledged, ${report.reads} reads, ${planned.length} moves rolled back`)
    await expectWorkloadIntact(router, report, 200)
  })

  it('rolls moves back from cutover, while the cutover barrier still waits: reads flip back to the old set with no catch-up, and no acknowledged write is lost or read stale', async () => {
    // Interleaving: the move cuts over (E+3: reads on the new set, the source outgoing but still
    // written), and its barrier is held by a router entry that never catches up (a lease-held
    // entry the test owns), so routers on E+2 and E+3 both serve. Clients write for a while at
    // E+3; then the rollback flips reads straight back to the old set (E+4) with no catch-up,
    // which is only right if every write acknowledged at E+3 reached a write quorum of the old
    // set too (the joint quorum: at rf 1 the source itself). The rb-cutover barrier is held a
    // while longer, then released. Every move of a second drain goes this way where the test
    // catches it in time (else it rolls back from draining, as above).
    const initial = await dp.shards()
    const before = new Map(initial.map((s) => [s.id, s.replicas]))
    await drainBusiest(initial)
    const plan = planRebalance(await readSnapshot(dp.ctx), {drainOnly: true}, {id: `rb-cutover-rf${rf}`, createdAt: new Date().toISOString()})
    const planned = plan.actions.filter((a) => a.kind === 'move')
    expect(planned.length).toBeGreaterThan(1)

    const stop = new AbortController()
    const load = runWorkload(router, {workers: 4, keysPerWorker: 25, maxOps: 40_000, maxMs: 150_000, stop: stop.signal})
    await sleepFor(500)
    const deps = {now: () => Date.now(), sleep: (ms: number, s?: AbortSignal) => sleepFor(ms, undefined, {signal: s}).catch(() => {}), emit: () => {}}
    // The executor leaves the held cutover barrier for the rollback within half a second (BARRIER_INTERRUPT_MS), not at the barrier's timeout.
    const running = executors.start((signal) => executePlan(dp.ctx, {...input(plan), limits: {maxConcurrent: 1, perNode: 1}}, deps, signal))

    let blocker: {lease: LeaseHandle; move: string} | undefined
    // The shard's revision once the move's destination was promoted (joining), before cutover; undefined before or after.
    const promotedShardRevision = async (m: Move): Promise<bigint | undefined> => {
      const kv = await dp.ctx.store.get(dp.ctx.keys.shard(m.shard))
      const shard = kv && (JSON.parse(kv.value) as Shard)
      return shard?.replicas.some((r) => r.node === m.to && r.role === 'joining') ? kv!.modRevision : undefined
    }
    const fromCutover = new Set<string>()
    const drainingSince = new Map<string, number>()
    try {
      for (let i = 0; ; i++) {
        if (i > 6000) throw new Error('the moves did not all roll back in time')
        const all = await movesOf(dp, plan.id)
        if (all.length === planned.length && all.every((m) => m.phase === 'rolledback')) break
        for (const m of all) {
          const promoted = (m.phase === 'promoting' || m.phase === 'verifying') && !blocker && !fromCutover.has(m.id) ? await promotedShardRevision(m) : undefined
          if (promoted !== undefined) {
            // A router entry at the promotion's map revision: it lets the destination's promotion
            // barrier (E+2, before verification) pass and holds every later one, the cutover's first.
            const lease = await grantLease(dp.ctx.store, 30)
            const at = new Date().toISOString()
            await dp.ctx.store.put(dp.ctx.keys.router('zz-lagging'), JSON.stringify({id: 'zz-lagging', address: '127.0.0.1:1', pid: 1, startedAt: at, updatedAt: at, mapRevision: String(promoted), epochs: {}, p99Ms: null, w: null}), lease.id)
            blocker = {lease, move: m.id}
          } else if (m.phase === 'cutover' && blocker?.move === m.id && !m.rollbackRequested) {
            await sleepFor(1000) // clients write at E+3 meanwhile
            await requestRollback(dp.ctx, m.id)
            fromCutover.add(m.id)
          } else if (m.phase === 'rb-cutover' && blocker?.move === m.id) {
            await sleepFor(500) // routers on E+3 and on E+4 both serve meanwhile
            await blocker.lease.revoke()
            blocker = undefined
          } else if (m.phase === 'draining' && !m.rollbackRequested) {
            const since = drainingSince.get(m.id) ?? Date.now()
            drainingSince.set(m.id, since)
            if (Date.now() - since > 1500) await requestRollback(dp.ctx, m.id)
          }
          if (blocker?.move === m.id && (m.phase === 'release' || m.phase === 'draining' || m.phase === 'rolledback')) {
            // Missed: the cutover barrier passed before the entry was seen; this one rolls back from draining.
            await blocker.lease.revoke()
            blocker = undefined
          }
        }
        await sleepFor(20)
      }
    } finally {
      await blocker?.lease.revoke()
    }
    await running
    stop.abort()
    const report = await load
    expect(fromCutover.size, 'moves rolled back from cutover').toBeGreaterThan(0)
    const after = await dp.shards()
    for (const s of after) expect(s.replicas, `shard ${s.id}`).toEqual(before.get(s.id))
    await waitForHintsDrained(router)
    await expectDigestsAgree(dp, after as Shard[])
    console.info(`rollback from cutover rf ${rf}: ${fromCutover.size} of ${planned.length} moves rolled back from cutover; ${report.writesAcked} writes acknowledged, ${report.reads} reads`)
    await expectWorkloadIntact(router, report, 200)
  })
})
