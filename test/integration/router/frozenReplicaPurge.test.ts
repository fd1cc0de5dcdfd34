import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {keyHash} from '../../../src/model/hash.js'
import {readReplicas, type Shard} from '../../../src/model/shard.js'
import {checkHistory} from '../../chaos/checker.js'
import {type HistoryOp, readFinal, runHistoryWorkload} from '../../chaos/history.js'
import {dataPlaneFetch} from '../../support/dataPlaneFetch.js'
import {expectDigestsAgree, waitForHintsDrained} from '../../support/workloadChecks.js'
import {DataPlane, waitFor} from './dataPlane.js'
import {type RouterProcess} from './routerProcess.js'

/**
 * A storage node frozen (SIGSTOP) for several tombstone graces and past its etcd lease,
 * while clients keep writing and deleting through a router and the other replicas keep
 * running anti-entropy and tombstone purges; then SIGCONT. The woken node holds values the
 * others deleted while it slept, and the router holds hints for it older than the grace
 * (which it must refuse). Neither those stale values, nor the stale hints, nor read repair
 * of them may bring a deleted key back once its tombstone was purged, and every write
 * acknowledged during the freeze must survive. The history is checked on the test's own
 * clock (invoke/complete times: real-time order), not only on the system's versions, and
 * afterwards every replica is read directly, key by key.
 *
 * Guards the rule that a tombstone older than the agreed cutoff still goes to a replica that
 * holds an older value of its key (planRepair): with that rule skipped, the woken node keeps
 * the deleted values forever (checked by hand: this test then fails on the replicas' direct
 * reads and digests).
 */
const GRACE_S = 2
/** The freeze: 4 graces, and past the 3 s lease test nodes run with (nodeProcess.ts). */
const FREEZE_MS = 4 * GRACE_S * 1000
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('a replica frozen past the tombstone grace and its lease, under writes, deletes and purges', () => {
  let dp: DataPlane
  let router: RouterProcess
  let shards: Shard[]

  beforeAll(async () => {
    dp = new DataPlane(inject('etcdEndpoint'), 'frozenpurge')
    // A short grace: anti-entropy (and so purging) runs every second on each shard's leader.
    dp.nodeArgs = ['--tombstone-grace', `${GRACE_S}s`]
    await dp.init(3, 2, 3)
    shards = await dp.shards()
    router = await dp.startRouter('r1', ['--node-timeout', '500ms', '--lease-ttl', '10'])
  }, 90_000)

  afterAll(async () => {
    for (const n of Object.values(dp?.nodes ?? {})) n.signal('SIGCONT')
    await dp?.teardown()
  })

  it('no deleted key comes back and no acknowledged write is lost, on the router or on any replica', async () => {
    const frozen = dp.nodes.n3!
    const stop = new AbortController()
    // delete-churn: each worker writes a fresh key twice, deletes it and reads an earlier deleted key back.
    const load = runHistoryWorkload({routers: () => [router.address], workers: 4, keysPerWorker: 12, maxOps: 4000, maxMs: 60_000, stop: stop.signal, pattern: 'delete-churn'})
    let frozenAt = 0
    let wokenAt = 0
    try {
      // Keys written before the freeze, deleted during it: n3 wakes up holding their values.
      await sleep(3000)
      frozenAt = now()
      frozen.signal('SIGSTOP')
      await waitFor(async () => ((await dp.ctx.store.get(`${dp.ctx.keys.alivePrefix}n3`)) === undefined ? true : undefined), 'n3\'s alive key to lapse', FREEZE_MS + 20_000)
      await sleep(Math.max(0, frozenAt + FREEZE_MS - now()))
    } finally {
      frozen.signal('SIGCONT')
      wokenAt = now()
    }
    // Several graces of churn after the wake-up: anti-entropy repairs n3 and purges behind it.
    await sleep(6 * GRACE_S * 1000)
    stop.abort()
    const history = await load

    const hints = await waitForHintsDrained(router.address, 45_000)
    // Every tombstone is purged once the load stopped: the replicas converged, fenced and purged.
    await waitFor(async () => ((await Promise.all(['n1', 'n2', 'n3'].map((n) => nodeMetric(dp, n, 'shardctl_node_tombstones')))).every((t) => t === 0) ? true : undefined), 'every replica to purge its tombstones', 40_000)
    const purged = await Promise.all(['n1', 'n2', 'n3'].map((n) => nodeMetric(dp, n, 'shardctl_node_tombstones_purged_total')))

    const keys = new Set(history.ops.map((o) => o.key))
    const finals = await readFinal(router.address, keys)
    const check = checkHistory(history.ops, finals)
    const during = (o: HistoryOp) => o.kind === 'write' && o.outcome === 'ok' && o.invoke >= frozenAt && o.complete <= wokenAt
    const deletesDuring = history.ops.filter((o) => during(o) && o.value === null).length
    const writesDuring = history.ops.filter((o) => during(o) && o.value !== null).length
    console.info(`frozen replica: ${check.operations} ops, ${check.writesAcked} writes acked (${writesDuring} values and ${deletesDuring} deletes during the ${((wokenAt - frozenAt) / 1000).toFixed(1)} s freeze), purged per node ${purged.join('/')}, hints ${JSON.stringify(hints)}`)
    // The fault landed: writes and deletes were acknowledged without n3, and purges ran.
    expect(writesDuring).toBeGreaterThan(0)
    expect(deletesDuring).toBeGreaterThan(0)
    expect(purged[2]).toBeGreaterThan(0)
    expect(check.lostWrites, JSON.stringify(check.lostWrites.slice(0, 5))).toEqual([])
    expect(check.staleReads, JSON.stringify(check.staleReads.slice(0, 5))).toEqual([])
    expect(check.phantomReads, JSON.stringify(check.phantomReads.slice(0, 5))).toEqual([])

    // Each replica, asked directly (no quorum to hide a straggler), holds what the router read.
    await expectDigestsAgree(dp, shards)
    const mismatches: string[] = []
    for (const key of keys) {
      const s = shards.find((x) => inRange(x, key))!
      const want = finals.get(key)!
      for (const node of readReplicas(s)) {
        const got = (await dp.client(node).get(s.id, s.epoch, Buffer.from(key))).record
        const value = got?.value ? got.value.toString() : null
        if (value !== want.value) mismatches.push(`${key} on ${node}: ${value === null ? 'nothing' : value.slice(0, 12)} at ${got?.version ?? '-'}, router read ${want.status} ${want.value?.slice(0, 12) ?? ''}`)
      }
    }
    expect(mismatches.slice(0, 10)).toEqual([])
  }, 240_000)
})

const now = (): number => performance.timeOrigin + performance.now()

function inRange(s: Shard, key: string): boolean {
  const h = keyHash(key)
  return h >= s.range.lo && h < s.range.hi
}

async function nodeMetric(dp: DataPlane, node: string, name: string): Promise<number> {
  const res = await dataPlaneFetch(dp.nodes[node]!.address!, '/metrics', {signal: AbortSignal.timeout(5000)})
  const text = await res.text()
  const v = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]
  if (v === undefined) throw new Error(`${node} has no ${name}`)
  return Number(v)
}
