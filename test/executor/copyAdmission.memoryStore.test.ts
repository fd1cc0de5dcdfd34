import {describe, expect, it} from 'vitest'
import {CopyAdmission} from '../../src/executor/copyAdmission.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEnv, type ExecutorEvent} from '../../src/executor/executorEnv.js'
import {getMove} from '../../src/executor/moveStore.js'
import {copyShard} from '../../src/executor/nodeCopy.js'
import {MIN_RATE_BYTES_PER_SEC} from '../../src/model/units.js'
import {type NodeClient} from '../../src/node/nodeClient.js'
import {NodeRequestError} from '../../src/node/nodeRequestError.js'
import {type PullRequest, type PullStatusResponse} from '../../src/node/protocol.js'
import {TokenBucket} from '../../src/throttle/tokenBucket.js'
import {copyingCluster, fakeClock, fakeClockEnv} from './fixtures.js'

/**
 * The real copyShard of several moves at once, on the in-memory store in fake time, under a
 * cluster throttle too low to give each its 16KiB/s floor, against one fake destination that
 * records every pull (its rate) and advances a shard's copy only while its pull runs: a copy
 * needs POLLS long polls of its own to finish.
 */
const POLLS = 12
const KiB = 1024

interface WorldHooks {
  /** onPoll runs at every long poll with the number of pulls running (a test cuts the rate there). */
  onPoll?: (running: number, global: TokenBucket) => void
  /** stopWhen stops the executor once the events say so. */
  stopWhen?: (events: readonly ExecutorEvent[]) => boolean
  /** failPull makes the destination unreachable for the `n`th pull (from 1) of move `id`. */
  failPull?: (id: string, n: number, global: TokenBucket) => boolean
  /** retryMs is how long the destination may stay unreachable before the copy gives up. */
  retryMs?: number
}

async function world(moves: number, globalRate: number, hooks: WorldHooks = {}) {
  const {onPoll = () => {}, stopWhen = () => false, failPull = () => false} = hooks
  const clock = fakeClock()
  const {ctx, fence, moves: recorded} = await copyingCluster(() => clock.now, {cluster: 'admit', nodes: 3, shards: moves})
  const ids = recorded.map((m) => m.id)
  // What the destination saw: every pull with its rate, which pulls run now, and the most that ran at once.
  const global = new TokenBucket(globalRate, () => clock.now)
  const seen = {pulls: [] as {move: string; rate: number | null; at: number}[], running: new Set<number>(), mostAtOnce: 0, cancels: 0}
  const polls = new Map<number, number>()
  const byShard = new Map<number, string>()
  const pullsOf = new Map<string, number>()
  const status = (shard: number): PullStatusResponse => {
    const n = polls.get(shard) ?? 0
    const state = n >= POLLS ? 'done' : seen.running.has(shard) ? 'running' : 'cancelled'
    return {shard, moveId: byShard.get(shard) ?? '', epoch: 1, state, bytes: n * 4 * KiB, dataBytes: n * 4 * KiB, keys: n, cursor: null, source: null, rate: null, error: null, errorCode: null, failedSource: null}
  }
  const destination = {
    address: '127.0.0.1:1',
    setThrottle: async () => ({}),
    pull: async (shard: number, req: PullRequest) => {
      const n = (pullsOf.get(req.moveId) ?? 0) + 1
      pullsOf.set(req.moveId, n)
      if (failPull(req.moveId, n, global)) throw new NodeRequestError('NODE_UNREACHABLE', 'connect ECONNREFUSED', 'n2', 0, undefined)
      byShard.set(shard, req.moveId)
      seen.pulls.push({move: req.moveId, rate: req.rate, at: clock.now})
      seen.running.add(shard)
      seen.mostAtOnce = Math.max(seen.mostAtOnce, seen.running.size)
      return status(shard)
    },
    pullStatus: async (shard: number) => {
      clock.now += 250
      onPoll(seen.running.size, global)
      if (seen.running.has(shard)) polls.set(shard, (polls.get(shard) ?? 0) + 1)
      const s = status(shard)
      if (s.state === 'done') seen.running.delete(shard)
      return s
    },
    cancelPull: async (shard: number) => {
      if (seen.running.delete(shard)) seen.cancels++
      return status(shard)
    },
  } as unknown as NodeClient
  const copies = new CopyAdmission(() => ({global: global.currentRate(), send: () => null, receive: () => null}))
  let guard = 0
  const events: ExecutorEvent[] = []
  const env: ExecutorEnv = {
    ctx,
    fence,
    client: async () => destination,
    ...fakeClockEnv(clock),
    ...(hooks.retryMs === undefined ? {} : {options: {...DEFAULT_EXECUTOR_OPTIONS, nodeRetryMs: hooks.retryMs, nodeRetryReplicatedMs: hooks.retryMs}}),
    throttles: {global, node: () => new TokenBucket(null, () => clock.now)},
    // Without admission the rate was split over the running moves: all of them.
    runningMoves: () => moves,
    copies,
    stopped: () => ++guard > 100_000 || stopWhen(events),
    emit: (ev) => events.push(ev),
  }
  for (const id of ids) copies.bind(id)
  return {ctx, env, ids, seen, events}
}

describe('copies under a throttle too low for all of them', () => {
  // Session 32: 16KiB/s over 30 running moves gave each about 550 B/s, a 16 KiB frame every
  // 30 s (the destination's idle timeout), and the moves aborted as "source unreachable".
  it('given 32KiB/s and five moves copying, then at most two copy at once, each asked for 16KiB/s or more, the others held with a reason, and all five finish', async () => {
    const {ctx, env, ids, seen, events} = await world(5, 32 * KiB)
    const done = await Promise.all(ids.map(async (id) => copyShard(env, await getMove(ctx, id))))

    expect(done.map((m) => m.value.phase)).toEqual(ids.map(() => 'promoting'))
    expect(seen.mostAtOnce).toBeLessThanOrEqual(2)
    expect(seen.pulls.length).toBeGreaterThanOrEqual(5)
    for (const p of seen.pulls) expect(p.rate).toBeGreaterThanOrEqual(MIN_RATE_BYTES_PER_SEC)
    // Three waited, each shown held by the throttle while it did.
    const held = new Set(events.flatMap((e) => (e.type === 'info' && e.message.includes('held by the throttle: the cluster rate 32.0 KiB/s carries 2 copies') ? [e.message.split(' ')[1]] : [])))
    expect(held.size).toBe(3)
    // Admitted again, a move no longer says it is held.
    for (const m of done) expect(m.value.reason).toBeNull()
  })

  it('given a throttle set lower while three copy, then the copies admitted last are held between frames (pull cancelled, not aborted), the rest keep the floor, and all finish', async () => {
    // Once all three copy, the operator cuts the rate to 16KiB/s.
    let cutAt: number | undefined
    const w = await world(3, 48 * KiB, {
      onPoll: (running, global) => {
        if (running < 3 || cutAt !== undefined) return
        cutAt = w.seen.pulls.length
        global.setRate(16 * KiB)
      },
    })
    const {ctx, env, ids, seen} = w
    const done = await Promise.all(ids.map(async (id) => copyShard(env, await getMove(ctx, id))))
    expect(cutAt).toBeDefined()

    expect(done.map((m) => m.value.phase)).toEqual(['promoting', 'promoting', 'promoting'])
    expect(seen.cancels).toBeGreaterThanOrEqual(2)
    for (const p of seen.pulls) expect(p.rate).toBeGreaterThanOrEqual(MIN_RATE_BYTES_PER_SEC)
    // After the cut, one copy at a time, at the whole rate.
    for (const p of seen.pulls.slice(cutAt)) expect(p.rate).toBe(16 * KiB)
  })

  it('given a copy held when the executor stops, then its move no longer says it is held (no executor runs to admit it)', async () => {
    const {ctx, env, ids} = await world(2, 16 * KiB, {stopWhen: (events) => events.some((e) => e.type === 'info' && e.message.includes('held by the throttle'))})
    const done = await Promise.all(ids.map(async (id) => copyShard(env, await getMove(ctx, id))))
    expect(done.map((m) => m.value.phase)).toEqual(['copying', 'copying'])
    for (const id of ids) expect((await getMove(ctx, id)).value.reason).toBeNull()
  })

  it('given a copy whose destination failed once just before the throttle held it, then the time held is not counted as trouble: it fails once more after and still finishes', async () => {
    // m1's first pull fails and the operator cuts the rate at that moment: m1 waits for m0's
    // whole copy (several seconds), then its next pull fails once more. Counted from the first
    // failure, the 1 s retry window was long gone: the copy gave up (and the move aborted).
    const {ctx, env, ids, events} = await world(2, 32 * KiB, {
      retryMs: 1000,
      failPull: (id, n, global) => {
        if (id !== 'm1' || n > 2) return false
        if (n === 1) global.setRate(16 * KiB)
        return true
      },
    })
    const done = await Promise.all(ids.map(async (id) => copyShard(env, await getMove(ctx, id))))
    expect(events.some((e) => e.type === 'info' && e.message.startsWith('move m1 (shard') && e.message.includes('held by the throttle'))).toBe(true)
    expect(done.map((m) => m.value.phase)).toEqual(['promoting', 'promoting'])
  })

  it('given the rate changing at every poll (as --throttle auto does) while a copy is held, then the hold is announced once, not at every change', async () => {
    // 16 and 20 KiB/s both carry one copy: the same hold, at another figure.
    const {ctx, env, ids, events} = await world(2, 16 * KiB, {onPoll: (_, global) => global.setRate(global.currentRate() === 16 * KiB ? 20 * KiB : 16 * KiB)})
    const done = await Promise.all(ids.map(async (id) => copyShard(env, await getMove(ctx, id))))
    expect(done.map((m) => m.value.phase)).toEqual(['promoting', 'promoting'])
    expect(events.filter((e) => e.type === 'info' && e.message.includes('held by the throttle'))).toHaveLength(1)
  })
})
