import {Redis} from 'ioredis'
import {setTimeout as sleepFor} from 'node:timers/promises'
import {describe, expect, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {defaultLatencyThrottle, type LatencyThrottleOptions} from '../../../src/executor/adaptiveThrottle.js'
import {setThrottle} from '../../../src/executor/controlService.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEvent} from '../../../src/executor/executorEnv.js'
import {executePlan} from '../../../src/executor/executePlan.js'
import {getMove} from '../../../src/executor/moveStore.js'
import {describeThrottleStep} from '../../../src/executor/throttleStepText.js'
import {isTerminal, type Move} from '../../../src/model/move.js'
import {slotsOfRange} from '../../../src/redis/slotMap.js'
import {redisAvailable, tagsInSlots} from '../../support/redisCluster.js'
import {abortExecutorAfterEach, type RunningExecutor, useRedisCluster} from '../../support/redisTestFile.js'

/**
 * `apply --throttle auto` on a real Redis Cluster (3 masters, DEBUG enabled): the executor
 * adapts the MIGRATE rate to the PING round trips it measures on the move's source and
 * target masters. The test holds the source master with `DEBUG SLEEP` (as a slow command or
 * a big MIGRATE would), and checks, in order, from the executor's own log lines: the rate
 * first climbs while the masters answer fast, falls to a small fraction of its peak while
 * the source stalls, climbs again once the stalls end; an operator's `throttle set` then
 * holds the rate (no adaptive change while the stalls come back) until it is unset, when
 * the adaptive throttle backs off again. Every key still reads its value afterwards.
 *
 * No figure here is a wall-clock assertion: each wait is bounded only so that a broken build
 * fails with a message instead of hanging.
 */

const available = await redisAvailable()
const file = useRedisCluster('redis-auto', available, {replicasPerMaster: 0, serverArgs: ['--enable-debug-command', 'yes'], slotsPerShard: 16})

const KiB = 1024
/** AUTO: the defaults for a 150 ms target, in a range a small slot migration spans. */
const AUTO: LatencyThrottleOptions = {...defaultLatencyThrottle(150), start: 512 * KiB, min: 32 * KiB, max: 2048 * KiB}
/** STALL_SECONDS: one DEBUG SLEEP on the source, far above the 150 ms target. */
const STALL_SECONDS = 0.4
const KEYS_PER_SLOT = 150
const VALUE = 'v'.repeat(16 * KiB)

let running: RunningExecutor | undefined
abortExecutorAfterEach(() => {
  const r = running
  running = undefined
  return r
})

/** RateLog collects the rates (KiB/s) each adaptive step that changed the rate set, and the executor's info lines, in order. */
class RateLog {
  readonly lines: string[] = []
  readonly rates: number[] = []
  readonly onEvent = (e: ExecutorEvent): void => {
    if (e.type === 'throttle' && (e.action === 'raise' || e.action === 'cut')) {
      this.rates.push(Math.round(e.rateBytesPerSec / KiB))
      this.lines.push(describeThrottleStep(e))
    }
    if (e.type === 'info') this.lines.push(e.message)
  }

  /** waitFor polls `cond` until it holds, failing after `boundMs` (or once the move ended) with `what` and the log so far. */
  async waitFor(what: string, cond: () => boolean, moveId: string, boundMs = 90_000): Promise<void> {
    const deadline = Date.now() + boundMs
    while (!cond()) {
      const phase = (await getMove(file.ctx, moveId)).value.phase
      if (isTerminal(phase)) throw new Error(`the move ended (${phase}) before: ${what}; log: ${this.lines.join(' | ')}`)
      if (Date.now() > deadline) throw new Error(`not seen within ${boundMs / 1000} s: ${what}; log: ${this.lines.join(' | ')}`)
      await sleepFor(200)
    }
  }
}

/** stallLoop holds `address` with DEBUG SLEEP, again and again, until `stop` is aborted. */
async function stallLoop(address: string, stop: AbortSignal): Promise<void> {
  const i = address.lastIndexOf(':')
  const r = new Redis({host: address.slice(0, i), port: Number(address.slice(i + 1)), lazyConnect: true})
  await r.connect()
  try {
    while (!stop.aborted) {
      await r.call('DEBUG', 'SLEEP', String(STALL_SECONDS))
      await sleepFor(100)
    }
  } finally {
    r.disconnect()
  }
}

describe.skipIf(!available)('redis --throttle auto', () => {
  it('backs off while a master of the move stalls, recovers after, and yields to `throttle set` until it is unset', async () => {
    const {shards} = await listShards(file.ctx)
    const shard = shards[0]?.value
    const from = shard?.replicas[0]?.node
    const to = file.masters.find((m) => m.node !== from)?.node
    if (!shard || !from || !to) throw new Error('no shard 0 or no second master')
    const {first, end} = slotsOfRange(shard.range)
    const keys = tagsInSlots(first, end, end - first).flatMap(({tag}) => Array.from({length: KEYS_PER_SLOT}, (_, i) => `{${tag}}:${i}`))
    for (let i = 0; i < keys.length; i += 200) await Promise.all(keys.slice(i, i + 200).map((k) => file.client.set(k, `${k}:${VALUE}`)))

    const at = new Date().toISOString()
    const move: Move = {id: 'auto-0', plan: 'by-hand', index: 0, shard: shard.id, from, to, baseEpoch: shard.epoch, epoch: shard.epoch, phase: 'pending', progress: {bytes: 0, keys: 0, totalBytes: 0, rateBytesPerSec: 0, dataRateBytesPerSec: 0, cursor: null, stalled: false}, cancelRequested: false, rollbackRequested: false, reason: null, attempts: 0, createdAt: at, updatedAt: at, cutoverAt: null, copyStartedAt: null}
    await file.ctx.store.put(file.ctx.keys.move(move.id), JSON.stringify(move))

    const log = new RateLog()
    const abort = new AbortController()
    const done = executePlan(file.ctx, {limits: {maxConcurrent: 1, perNode: 1}, throttle: null, adaptive: AUTO, nodeThrottle: null, options: DEFAULT_EXECUTOR_OPTIONS, confirm: async () => true, holder: 'test'}, {now: () => Date.now(), sleep: (ms, s) => sleepFor(ms, undefined, {signal: s}).catch(() => {}), emit: log.onEvent}, abort.signal)
    running = {abort, done: done.catch(() => {})}
    const source = file.master(from).address

    // 1. Healthy masters: the rate climbs from its 512 KiB/s start.
    await log.waitFor('the rate climbing to 1 MiB/s or more', () => log.rates.some((r) => r >= 1024), move.id)
    const peak = Math.max(...log.rates)

    // 2. The source stalls: the rate falls to an eighth of its peak or less.
    const stalls = new AbortController()
    let stalling = stallLoop(source, stalls.signal)
    const beforeStall = log.rates.length
    await log.waitFor('the rate falling to 1/8 of its peak while the source stalls', () => log.rates.slice(beforeStall).some((r) => r <= peak / 8), move.id).finally(() => stalls.abort())
    await stalling
    const low = Math.min(...log.rates.slice(beforeStall))

    // 3. Stalls over: it climbs again.
    const afterStall = log.rates.length
    await log.waitFor('the rate climbing again after the stalls', () => log.rates.slice(afterStall).some((r) => r >= low * 4), move.id)

    // 4. The operator's rate holds while the stalls come back: no adaptive change until it is unset.
    await setThrottle(file.ctx, 100 * KiB)
    await log.waitFor('the executor following `throttle set`', () => log.lines.some((l) => l === `throttle now ${100 * KiB} B/s`), move.id)
    const overridden = log.rates.length
    const stalls2 = new AbortController()
    stalling = stallLoop(source, stalls2.signal)
    try {
      // Several executor control rounds (each about half a second) pass while the source stalls.
      await sleepFor(4000)
      expect(log.rates.slice(overridden), 'adaptive changes while `throttle set` holds the rate').toEqual([])
      await setThrottle(file.ctx, null)
      // Every rate change is a throttle event, so the last one seen is the adaptive one the override set aside.
      const setAside = log.rates[overridden - 1] ?? AUTO.start / KiB
      await log.waitFor('the adaptive throttle backing off again once `throttle set` is unset', () => log.rates.slice(overridden).some((r) => r < setAside), move.id)
    } finally {
      stalls2.abort()
      await stalling
    }
    abort.abort()
    await done

    // The move is stopped mid-way (a slot may be open): every key still reads its value through MOVED/ASK.
    for (let i = 0; i < keys.length; i += 200) {
      const batch = keys.slice(i, i + 200)
      expect(await Promise.all(batch.map((k) => file.client.get(k)))).toEqual(batch.map((k) => `${k}:${VALUE}`))
    }
  }, 400_000)
})
