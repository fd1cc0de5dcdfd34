import {setTimeout as sleepFor} from 'node:timers/promises'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {setNodeState} from '../../../src/cluster/nodeService.js'
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

  it('rolls every move of a drain back from draining while clients write and read: no acknowledged write lost, no stale read, no request failed', async () => {
    const initial = await dp.shards()
    const before = new Map(initial.map((s) => [s.id, s.replicas]))
    // Drain the node holding the most replicas, so the plan has several moves.
    const held = (id: string) => initial.filter((s) => s.replicas.some((r) => r.node === id)).length
    const drained = Array.from({length: nodes}, (_, i) => `n${i + 1}`).sort((a, b) => held(b) - held(a))[0]!
    await setNodeState(dp.ctx, drained, 'draining')
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
})
