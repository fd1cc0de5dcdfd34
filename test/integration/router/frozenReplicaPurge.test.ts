import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {keyHash} from '../../../src/model/hash.js'
import {readReplicas, type Shard} from '../../../src/model/shard.js'
import {checkHistory} from '../../chaos/checker.js'
import {type MemberHealth, skewNotInEffect} from '../../chaos/clockSkew.js'
import {type HistoryOp, readFinal, runHistoryWorkload} from '../../chaos/history.js'
import {dataPlaneFetch} from '../../support/dataPlaneFetch.js'
import {skewedClock} from '../../support/faketime.js'
import {expectDigestsAgree, replicaLag, waitForHintsDrained} from '../../support/workloadChecks.js'
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
 * holds an older value of its key (planRepair): with that rule skipped (a tombstone older than
 * the cutoff never sent), the woken node keeps the deleted values for good and the shard never
 * converges, so it is never purged; checked by hand: this test then fails, n3 holding 15 to 30
 * of the 30 deleted preloaded keys (the deletes acknowledged last may still be younger than
 * the cutoff when n3 wakes, and those repair sends), in the frozen and the SIGKILL cases.
 */
const GRACE_S = 2
/** The freeze after the last preloaded delete: 4 graces, and past the 3 s lease test nodes run with (nodeProcess.ts). */
const FREEZE_MS = 4 * GRACE_S * 1000
/** PRELOADED keys are written before the freeze and deleted during it. */
const PRELOADED = 30
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * The same fault with the nodes' clocks in step, and with the two replicas that stay up
 * skewed (libfaketime) 200 ms ahead and 200 ms behind the router's and the frozen node's:
 * within the 500 ms bound, so every node keeps serving, but each node's stale floor and purge
 * cutoff limit, and each shard leader's initial cutoff, are then taken on a different clock.
 * (At ±400 ms the two are 800 ms apart; once the frozen node's clock sample went stale each
 * saw its one other node beyond the bound and, a tie then closing the gate, no write reached
 * W = 2 for the rest of the freeze. Half is no longer a majority (ClockOffsetTracker; its unit
 * test pins the rule); this case stays at ±200 ms so it tests the purge, not the gate.)
 */
/**
 * And with n3 SIGKILLed instead of frozen (down as long, then restarted on its data dir),
 * then SIGKILLed again under load soon after its return and restarted at once: applies it had
 * committed but not yet answered become hints of writes it holds, and the deletes it missed
 * must reach it through anti-entropy before their tombstones are purged elsewhere.
 */
/**
 * And with the router's clock 250 ms behind the nodes' and n1's another 200 ms ahead (450 ms
 * apart, in bounds): every version the router stamps, and so every hint it replays, is that
 * much older on the replicas' clocks, nearer their stale floors and purge cutoffs (which n1
 * takes 450 ms later than the versions' clock).
 */
const CASES: {name: string; skews: Record<string, number>; routerSkew?: number; fault: 'freeze' | 'kill'}[] = [
  {name: 'frozen, clocks in step', skews: {}, fault: 'freeze'},
  {name: 'frozen, n1 200 ms ahead, n2 200 ms behind', skews: {n1: 200, n2: -200}, fault: 'freeze'},
  {name: 'SIGKILLed twice, clocks in step', skews: {}, fault: 'kill'},
  {name: 'frozen, router 250 ms behind, n1 200 ms ahead', skews: {n1: 200}, routerSkew: -250, fault: 'freeze'},
]

describe.each(CASES)('a replica down past the tombstone grace and its lease, under writes, deletes and purges ($name)', ({skews, routerSkew, fault}) => {
  let dp: DataPlane
  let router: RouterProcess
  let shards: Shard[]

  beforeAll(async () => {
    dp = new DataPlane(inject('etcdEndpoint'), 'frozenpurge')
    // A short grace: anti-entropy (and so purging) runs every second on each shard's leader.
    dp.nodeArgs = ['--tombstone-grace', `${GRACE_S}s`]
    dp.childEnv = (id) => (skews[id] === undefined ? {} : skewedClock(skews[id]))
    await dp.init(3, 2, 3)
    shards = await dp.shards()
    router = await dp.startRouter('r1', ['--node-timeout', '500ms', '--lease-ttl', '10'], undefined, routerSkew === undefined ? undefined : skewedClock(routerSkew))
    // The skews are in effect: each skewed node's (and the router's) clock is off by its offset and its monitor says in bounds.
    const skewed = Object.entries(skews).map(([id, offsetMs]) => ({id, offsetMs, address: dp.nodes[id]!.address!}))
    if (routerSkew !== undefined) skewed.push({id: 'r1', offsetMs: routerSkew, address: router.address})
    for (const {id, offsetMs, address} of skewed) {
      await waitFor(async () => {
        const sentAt = Date.now()
        const health = (await (await dataPlaneFetch(address, '/healthz', {signal: AbortSignal.timeout(5000)})).json()) as MemberHealth
        return skewNotInEffect({sentAt, receivedAt: Date.now(), health}, {offsetMs, inBounds: true}) === undefined ? true : undefined
      }, `${id}'s clock to run ${offsetMs} ms off, in bounds`, 30_000)
    }
  }, 120_000)

  afterAll(async () => {
    for (const n of Object.values(dp?.nodes ?? {})) n.signal('SIGCONT')
    await dp?.teardown()
  })

  it('no deleted key comes back and no acknowledged write is lost, on the router or on any replica', async () => {
    const frozen = dp.nodes.n3!
    // Keys every replica holds before the freeze, deleted during it and not read again until
    // the end: n3 wakes up holding their values, and nothing but anti-entropy may tell it.
    const preOps: HistoryOp[] = []
    for (let i = 0; i < PRELOADED; i++) await recordedOp(router.address, preOps, `pre-${i}`, `pre-value-${i}`)
    await waitForHintsDrained(router.address, 45_000)
    expect((await valuesHeld(dp, shards, 'n3', preOps.map((o) => o.key))).length, 'n3 holds the preloaded keys before it goes down').toBe(PRELOADED)

    const stop = new AbortController()
    // delete-churn: each worker writes a fresh key twice, deletes it and reads an earlier deleted key back.
    // The load must run until stop.abort() below, past n3's last start (about 25 s): n3's purge
    // counter starts again at each restart, so only churn after that start can give it
    // tombstones to purge. At 4,000 ops a fast runner finished the load before the second
    // restart (red in CI: n3 purged 0); the op bound is a runaway guard, not the length.
    const load = runHistoryWorkload({routers: () => [router.address], workers: 4, keysPerWorker: 12, maxOps: 40_000, maxMs: 60_000, stop: stop.signal, pattern: 'delete-churn'})
    let frozenAt = 0
    let wokenAt = 0
    // When n3 last started (or woke): its metrics count from here.
    let lastStartAt = 0
    try {
      await sleep(1000)
      frozenAt = now()
      if (fault === 'freeze') frozen.signal('SIGSTOP')
      else await frozen.kill()
      for (let i = 0; i < PRELOADED; i++) await recordedOp(router.address, preOps, `pre-${i}`, null)
      // Frozen for FREEZE_MS after the last of those deletes: n3 wakes with every one of them
      // older than any purge cutoff (so anti-entropy must still send them), and every hint of
      // them past the grace (so n3 refuses those).
      const deletedAt = now()
      await waitFor(async () => ((await dp.ctx.store.get(`${dp.ctx.keys.alivePrefix}n3`)) === undefined ? true : undefined), 'n3\'s alive key to lapse', FREEZE_MS + 20_000)
      await sleep(Math.max(0, deletedAt + FREEZE_MS - now()))
    } finally {
      if (fault === 'freeze') frozen.signal('SIGCONT')
    }
    if (fault === 'kill') await dp.startNode('n3')
    wokenAt = now()
    if (fault === 'kill') {
      // Killed again under load (writes in flight to it), and straight back.
      await sleep(2000)
      await dp.nodes.n3!.kill()
      await dp.startNode('n3')
    }
    lastStartAt = now()
    // Several graces of churn after the wake-up: anti-entropy repairs n3 and purges behind it.
    await sleep(6 * GRACE_S * 1000)
    stop.abort()
    const history = [...preOps, ...(await load).ops.map((o) => ({...o, id: o.id + preOps.length}))]

    const hints = await waitForHintsDrained(router.address, 45_000)
    // Once the load stopped every tombstone is purged: the replicas converged, fenced and purged.
    const tombstones = () => Promise.all(['n1', 'n2', 'n3'].map((n) => nodeMetric(dp, n, 'shardctl_node_tombstones')))
    const allPurged = await waitFor(async () => ((await tombstones()).every((t) => t === 0) ? true : undefined), 'every replica to purge its tombstones', 40_000).catch(() => false)
    const purged = await Promise.all(['n1', 'n2', 'n3'].map((n) => nodeMetric(dp, n, 'shardctl_node_tombstones_purged_total')))

    // Each replica, asked directly before any read through the router (whose read repair
    // could hide a straggler, or spread its stale value), holds none of the deleted keys.
    const keys = new Set(history.map((o) => o.key))
    const resurrected: string[] = []
    for (const node of ['n1', 'n2', 'n3']) resurrected.push(...(await valuesHeld(dp, shards, node, preOps.map((o) => o.key))).map((k) => `${k} on ${node}`))
    const lag = (await Promise.all(shards.map((s) => replicaLag(dp, s)))).filter((l) => l !== undefined)

    const finals = await readFinal(router.address, keys)
    const check = checkHistory(history, finals)
    const during = (o: HistoryOp) => o.kind === 'write' && o.outcome === 'ok' && o.invoke >= frozenAt && o.complete <= wokenAt
    const deletesDuring = history.filter((o) => during(o) && o.value === null).length
    const writesDuring = history.filter((o) => during(o) && o.value !== null).length
    const deletesAfterReturn = history.filter((o) => o.kind === 'write' && o.outcome === 'ok' && o.value === null && o.invoke >= lastStartAt).length
    console.info(`replica ${fault === 'freeze' ? 'frozen' : 'killed'}: ${check.operations} ops, ${check.writesAcked} writes acked (${writesDuring} values and ${deletesDuring} deletes during the ${((wokenAt - frozenAt) / 1000).toFixed(1)} s n3 was down, ${deletesAfterReturn} deletes after its last start), purged per node ${purged.join('/')}, tombstones left ${(await tombstones()).join('/')}, hints ${JSON.stringify(hints)}`)
    expect(resurrected, 'replicas holding a value of a preloaded key deleted while n3 was down').toEqual([])
    expect(lag.slice(0, 2)).toEqual([])
    // The fault landed: writes and deletes were acknowledged without n3, and purges ran.
    expect(writesDuring).toBeGreaterThan(0)
    expect(deletesDuring).toBeGreaterThanOrEqual(PRELOADED)
    expect(allPurged, 'every tombstone purged once the load stopped').toBe(true)
    expect(deletesAfterReturn, 'deletes acknowledged after n3\'s last start (the load still running)').toBeGreaterThan(0)
    expect(purged[2], 'tombstones n3 purged since its last start').toBeGreaterThan(0)
    expect(check.lostWrites, JSON.stringify(check.lostWrites.slice(0, 5))).toEqual([])
    expect(check.staleReads, JSON.stringify(check.staleReads.slice(0, 5))).toEqual([])
    expect(check.phantomReads, JSON.stringify(check.phantomReads.slice(0, 5))).toEqual([])

    // And each replica holds exactly what the router reads, key by key.
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

/**
 * recordedOp sends a PUT (value) or DELETE (null) through the router until it is
 * acknowledged (at most 3 attempts: on a loaded machine a live replica may miss the short
 * node timeout, and the write then fails retriably), recording every attempt in `history` on
 * the test's clock. A retried PUT writes a new value, so every value names one attempt.
 */
async function recordedOp(router: string, history: HistoryOp[], key: string, value: string | null): Promise<void> {
  let last = ''
  for (let attempt = 0; attempt < 3; attempt++) {
    const v = value === null ? null : `${value}-a${attempt}`
    const op: HistoryOp = {id: history.length, worker: -1, key, kind: 'write', value: v, invoke: now(), complete: 0, outcome: 'unknown', status: 0, version: null, router}
    try {
      const res = await dataPlaneFetch(router, `/kv/${encodeURIComponent(key)}`, {method: v === null ? 'DELETE' : 'PUT', body: v ?? undefined, signal: AbortSignal.timeout(8000)})
      last = `${res.status} ${(await res.text()).slice(0, 200)}`
      op.status = res.status
      op.version = res.headers.get('x-shardctl-version')
      op.outcome = res.status >= 200 && res.status < 300 ? 'ok' : res.status >= 400 && res.status < 500 && res.status !== 408 ? 'fail' : 'unknown'
    } catch (err) {
      last = String(err)
    }
    op.complete = now()
    history.push(op)
    if (op.outcome === 'ok') return
  }
  throw new Error(`${value === null ? 'DELETE' : 'PUT'} ${key} was not acknowledged in 3 attempts: ${last}`)
}

/** valuesHeld lists the keys of `keys` of which `node` holds a value (not a tombstone, not nothing), asked directly, as `key (shard s, version v)`. */
async function valuesHeld(dp: DataPlane, shards: readonly Shard[], node: string, keys: readonly string[]): Promise<string[]> {
  const out: string[] = []
  for (const key of new Set(keys)) {
    const s = shards.find((x) => inRange(x, key))!
    const got = await dp.client(node).get(s.id, s.epoch, Buffer.from(key))
    if (got.record?.value) out.push(`${key} (shard ${s.id}, version ${got.record.version})`)
  }
  return out
}
