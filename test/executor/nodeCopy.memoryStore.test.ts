import {describe, expect, it} from 'vitest'
import {type ExecutorEnv, type ExecutorEvent} from '../../src/executor/executorEnv.js'
import {copyShard} from '../../src/executor/nodeCopy.js'
import {describeCopied} from '../../src/executor/copyProgressText.js'
import {etaSeconds} from '../../src/executor/moveViews.js'
import {copyGoalBytes, type Move} from '../../src/model/move.js'
import {formatBytes} from '../../src/model/units.js'
import {getMove} from '../../src/executor/moveStore.js'
import {type NodeClient} from '../../src/node/nodeClient.js'
import {type PullStatusResponse} from '../../src/node/protocol.js'
import {copyingCluster, fakeClock, fakeClockEnv} from './fixtures.js'

/**
 * The real copyShard on the in-memory store, in fake time, against a fake destination whose
 * long poll answers every 250 ms with 400 more stream bytes and 100 more key and value bytes:
 * small values, where versions and framing make the stream four times the data.
 */
const POLL_MS = 250
const WIRE_PER_POLL = 400
const DATA_PER_POLL = 100
const POLLS = 40

/**
 * copyAgainst runs the real copyShard against a fake destination answering `status(polls)`
 * (the long poll advancing fake time by POLL_MS), until it reports done.
 */
async function copyAgainst(status: (polls: number, move: Move) => PullStatusResponse, done: number) {
  const clock = fakeClock()
  const {ctx, fence, moves} = await copyingCluster(() => clock.now, {cluster: 'copy', nodes: 2, shards: 1, totalBytes: POLLS * DATA_PER_POLL})
  const move = moves[0]!
  let polls = 0
  const destination = {
    address: '127.0.0.1:1',
    setThrottle: async () => ({}),
    cancelPull: async () => status(polls, move),
    pull: async () => status(polls, move),
    pullStatus: async () => {
      clock.now += POLL_MS
      polls++
      return status(polls, move)
    },
  } as unknown as NodeClient
  const events: ExecutorEvent[] = []
  const env: ExecutorEnv = {
    ctx,
    fence,
    client: async () => destination,
    ...fakeClockEnv(clock),
    stopped: () => polls > done + 5,
    emit: (ev) => events.push(ev),
  }
  return {move, events, result: await copyShard(env, await getMove(ctx, move.id))}
}

describe('copyShard progress', () => {
  // Session 26: a heal whose source was dead merged the two live replicas, reading each whole,
  // and its progress ran to 71,936 bytes of a 35,959-byte total: 100 % after the first replica, then
  // "past the estimate" with no ETA for the whole second one.
  it('given a heal reading two replicas whole (the destination says two passes), when copying, then the progress counts towards twice the planned size: never past it, an ETA through the second replica, and exactly it when done', async () => {
    const planned = POLLS * DATA_PER_POLL
    const {move, events, result} = await copyAgainst((polls, m) => ({shard: m.shard, moveId: m.id, epoch: m.epoch, state: polls >= 2 * POLLS ? 'done' : 'running', bytes: polls * WIRE_PER_POLL, dataBytes: polls * DATA_PER_POLL, passes: 2, carriedDataBytes: 0, prefixDataBytes: 0, keys: polls * 10, cursor: null, source: m.from, rate: null, error: null, errorCode: null, failedSource: null}), 2 * POLLS)

    expect(result.value.phase).toBe('promoting')
    expect(result.value.progress).toMatchObject({bytes: 2 * planned, totalBytes: planned, expectedBytes: 2 * planned})
    const progress = events.flatMap((e) => (e.type === 'progress' ? [e] : []))
    expect(progress.length).toBeGreaterThan(10)
    for (const e of progress) {
      expect(e.expectedBytes).toBe(2 * planned)
      expect(e.bytes).toBeLessThanOrEqual(copyGoalBytes(e))
      const view = {...move, progress: {...move.progress, ...e, cursor: null}}
      // Halfway is 50 %, and the ETA runs on through the second replica instead of dropping out past "100 %".
      if (e.bytes < 2 * planned && e.dataRateBytesPerSec > 0) expect(etaSeconds(view)).toBe(Math.round((2 * planned - e.bytes) / e.dataRateBytesPerSec))
      expect(describeCopied(e)).not.toContain('past the')
    }
    const half = progress.find((e) => e.bytes === planned)!
    expect(describeCopied(half)).toBe(`copied ${formatBytes(planned)} (${half.keys} keys) of ~${formatBytes(2 * planned)} (a ~${formatBytes(planned)} shard merged from several replicas)`)
  })

  it('given a destination that predates the passes (it does not say), when copying, then the planned size stays the goal, as before', async () => {
    const {result} = await copyAgainst((polls, m) => ({shard: m.shard, moveId: m.id, epoch: m.epoch, state: polls >= POLLS ? 'done' : 'running', bytes: polls * WIRE_PER_POLL, dataBytes: polls * DATA_PER_POLL, keys: polls * 10, cursor: null, source: m.from, rate: null, error: null, errorCode: null, failedSource: null}), POLLS)
    expect(result.value.progress.expectedBytes).toBeUndefined()
    expect(copyGoalBytes(result.value.progress)).toBe(POLLS * DATA_PER_POLL)
  })

  it('given a stream four times its data, when copying, then the progress carries the data rate beside its data bytes (the ETA divides by it) and keeps the stream rate for the throttles', async () => {
    const {events, result: done} = await copyAgainst((polls, m) => ({shard: m.shard, moveId: m.id, epoch: m.epoch, state: polls >= POLLS ? 'done' : 'running', bytes: polls * WIRE_PER_POLL, dataBytes: polls * DATA_PER_POLL, keys: polls * 10, cursor: null, source: m.from, rate: null, error: null, errorCode: null, failedSource: null}), POLLS)

    expect(done.value.phase).toBe('promoting')
    // 100 data bytes and 400 stream bytes every 250 ms.
    expect(done.value.progress).toMatchObject({bytes: POLLS * DATA_PER_POLL, dataRateBytesPerSec: 400, rateBytesPerSec: 1600})
    const progress = events.filter((e) => e.type === 'progress')
    expect(progress.length).toBeGreaterThan(5)
    // Past the first rate window every event says the same: the rate beside the bytes is theirs.
    for (const e of progress.slice(-5)) expect(e).toMatchObject({dataRateBytesPerSec: 400, rateBytesPerSec: 1600})
  })
})
