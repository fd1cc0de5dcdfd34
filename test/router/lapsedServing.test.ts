import {describe, expect, it} from 'vitest'
import {fenceHolds, fenceNamesAbsentFloor, LapsedServing} from '../../src/router/lapsedServing.js'
import {ManualClock} from '../support/manualClock.js'

/** Deferred is one pending answer a test settles by hand. */
interface Deferred<T> {
  promise: Promise<T>
  resolve: (v: T) => void
  reject: (e: unknown) => void
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return {promise, resolve, reject}
}

/** world: a LapsedServing on a manual clock whose re-reads and confirmations wait for the test to answer them. */
function world(validMs = 3000, pauseMs = 300) {
  const clock = new ManualClock()
  const rereads: Deferred<void>[] = []
  const confirms: Deferred<boolean>[] = []
  const lines: string[] = []
  const lapsed = new LapsedServing({
    reread: () => {
      const d = deferred<void>()
      rereads.push(d)
      return d.promise
    },
    confirm: () => {
      const d = deferred<boolean>()
      confirms.push(d)
      return d.promise
    },
    validMs,
    pauseMs,
    now: () => clock.now,
    sleep: (ms) => new Promise((resolve) => clock.startTimer(resolve, ms)),
    onServing: () => lines.push('serving'),
    onFailure: (err) => lines.push(`failed: ${(err as Error).message}`),
  })
  return {clock, rereads, confirms, lines, lapsed}
}

/** lapseAndConfirm lapses `w`'s router, answers its re-read, then its first confirmation with `held`. */
async function lapseAndConfirm(w: ReturnType<typeof world>, held: boolean): Promise<void> {
  w.lapsed.lost()
  await w.clock.advance(0)
  w.rereads[0]!.resolve()
  await w.clock.advance(0)
  w.confirms[0]!.resolve(held)
}

describe('LapsedServing', () => {
  it('Given a lapse, When the map was re-read and the floor confirmed, Then the router serves; not before either', async () => {
    const w = world()
    expect(w.lapsed.serving()).toBe(false)
    w.lapsed.lost()
    await w.clock.advance(0)
    expect(w.rereads).toHaveLength(1)
    expect(w.confirms).toHaveLength(0)
    w.rereads[0]!.resolve()
    await w.clock.advance(0)
    expect(w.lapsed.serving()).toBe(false)
    expect(w.confirms).toHaveLength(1)
    w.confirms[0]!.resolve(true)
    await w.clock.advance(0)
    expect(w.lapsed.serving()).toBe(true)
    expect(w.lines).toEqual(['serving'])
    w.lapsed.stop()
  })

  it('Given confirmations answered slower than the pause but within the validity, Then serving never gaps (they are pipelined, like keepalives)', async () => {
    const w = world(3000, 300)
    w.lapsed.lost()
    await w.clock.advance(0)
    w.rereads[0]!.resolve()
    // Every answer comes 2 s after its confirmation was sent: more than the pause, less than validMs - pauseMs.
    for (let t = 0; t < 10_000; t += 100) {
      await w.clock.advance(100)
      const sentAt = (i: number) => i * 300
      w.confirms.forEach((d, i) => {
        if (w.clock.now >= sentAt(i) + 2000) d.resolve(true)
      })
      await w.clock.advance(0)
      if (w.clock.now >= 2100) expect(w.lapsed.serving(), `at ${w.clock.now} ms`).toBe(true)
    }
    w.lapsed.stop()
  })

  it('Given confirmations that stop being answered, Then serving ends validMs after the last answered one was sent', async () => {
    const w = world(3000, 300)
    await lapseAndConfirm(w, true)
    await w.clock.advance(2900)
    expect(w.lapsed.serving()).toBe(true)
    await w.clock.advance(100)
    expect(w.lapsed.serving()).toBe(false)
    w.lapsed.stop()
  })

  it('Given a confirmation answered late (held while its etcd connection came up, then sent with a whole deadline: up to twice SHARDCTL_ETCD_TIMEOUT_MS, src/etcd/connectFirst.ts), Then it vouches validMs from when it was sent, not from its answer, and an answer later than validMs vouches for nothing', async () => {
    const w = world(3000, 300)
    w.lapsed.lost()
    await w.clock.advance(0)
    w.rereads[0]!.resolve()
    // confirms[0] was sent at 0; the later ones (one every pause) stay unanswered.
    await w.clock.advance(2500)
    w.confirms[0]!.resolve(true)
    await w.clock.advance(0)
    expect(w.lapsed.serving()).toBe(true)
    await w.clock.advance(499)
    expect(w.lapsed.serving(), 'at 2999 ms').toBe(true)
    await w.clock.advance(1)
    // Counted from the answer (2500 ms) it would serve until 5500 ms: etcd read the floor at most 3000 ms ago only from the send.
    expect(w.lapsed.serving(), 'at 3000 ms, validMs after the send').toBe(false)
    // confirms[1] (sent at 300 ms) answered at 3400 ms: past its own validity on arrival, so no serving again.
    await w.clock.advance(400)
    w.confirms[1]!.resolve(true)
    await w.clock.advance(0)
    expect(w.lapsed.serving(), 'an answer more than validMs after its send').toBe(false)
    expect(w.lines).toEqual(['serving'])
    w.lapsed.stop()
  })

  it('Given a confirmation finds the fence gone (cluster re-created), Then serving ends for the rest of the lapse, even if an older confirmation answers later', async () => {
    const w = world()
    w.lapsed.lost()
    await w.clock.advance(0)
    w.rereads[0]!.resolve()
    await w.clock.advance(300)
    expect(w.confirms).toHaveLength(2)
    w.confirms[1]!.resolve(false)
    await w.clock.advance(0)
    w.confirms[0]!.resolve(true)
    await w.clock.advance(0)
    expect(w.lapsed.serving()).toBe(false)
    const sent = w.confirms.length
    await w.clock.advance(3000)
    expect(w.confirms).toHaveLength(sent)
    w.lapsed.stop()
  })

  it('Given a failed re-read, Then it is retried after the pause and nothing is confirmed before it succeeds', async () => {
    const w = world()
    w.lapsed.lost()
    await w.clock.advance(0)
    w.rereads[0]!.reject(new Error('etcd unreachable'))
    await w.clock.advance(0)
    expect(w.lines).toEqual(['failed: etcd unreachable'])
    expect(w.confirms).toHaveLength(0)
    await w.clock.advance(300)
    expect(w.rereads).toHaveLength(2)
    expect(w.confirms).toHaveLength(0)
    w.lapsed.stop()
  })

  it('Given a recovery, then a second lapse, Then the map is re-read again and answers from the first lapse vouch for nothing', async () => {
    const w = world()
    w.lapsed.lost()
    await w.clock.advance(0)
    w.rereads[0]!.resolve()
    await w.clock.advance(0)
    const late = w.confirms[0]!
    w.lapsed.recovered()
    expect(w.lapsed.serving()).toBe(false)
    w.lapsed.lost()
    await w.clock.advance(0)
    late.resolve(true)
    await w.clock.advance(300)
    expect(w.lapsed.serving()).toBe(false)
    expect(w.rereads).toHaveLength(2)
    w.lapsed.stop()
  })

  it('Given a router that was never lapsed, Then it never serves through LapsedServing', async () => {
    const w = world()
    await w.clock.advance(1000)
    expect(w.lapsed.serving()).toBe(false)
    expect(w.rereads).toHaveLength(0)
  })
})

describe('fenceHolds', () => {
  const fence = [
    {key: 'meta', createRevision: 5n},
    {key: 'floor', createRevision: 0n},
  ]
  it('holds while meta has the same create revision and the floor is still absent', () => {
    expect(fenceHolds(fence, new Map([['meta', {createRevision: 5n, modRevision: 9n}], ['floor', undefined]]))).toBe(true)
  })
  it('fails when meta was re-created or the floor appeared', () => {
    expect(fenceHolds(fence, new Map([['meta', {createRevision: 7n, modRevision: 7n}], ['floor', undefined]]))).toBe(false)
    expect(fenceHolds(fence, new Map([['meta', {createRevision: 5n, modRevision: 5n}], ['floor', {createRevision: 8n, modRevision: 8n}]]))).toBe(false)
    expect(fenceHolds(fence, new Map([['floor', undefined]]))).toBe(false)
  })
})

describe('LapsedServing across lapses', () => {
  it('Given a lapse whose fence was refused, When the router re-registers and lapses again, Then it re-reads and confirms afresh', async () => {
    const w = world()
    await lapseAndConfirm(w, false)
    await w.clock.advance(600)
    w.lapsed.recovered()
    w.lapsed.lost()
    await w.clock.advance(0)
    expect(w.rereads).toHaveLength(2)
    w.rereads[1]!.resolve()
    await w.clock.advance(0)
    w.confirms.at(-1)!.resolve(true)
    await w.clock.advance(0)
    expect(w.lapsed.serving()).toBe(true)
    w.lapsed.stop()
    expect(w.lapsed.serving()).toBe(false)
  })
})

describe('LapsedServing.nudge', () => {
  it('Given a serving lapsed router, When its map changes (nudge) and that confirmation finds the fence gone, Then it stops serving one answer later, not a validity later', async () => {
    const w = world(3000, 300)
    await lapseAndConfirm(w, true)
    await w.clock.advance(100)
    expect(w.lapsed.serving()).toBe(true)
    const before = w.confirms.length
    w.lapsed.nudge()
    expect(w.confirms).toHaveLength(before + 1)
    w.confirms.at(-1)!.resolve(false)
    await w.clock.advance(0)
    expect(w.lapsed.serving()).toBe(false)
    w.lapsed.stop()
  })

  it('Given a router not lapsed, or lapsed but not re-read yet, Then nudge sends nothing', async () => {
    const w = world()
    w.lapsed.nudge()
    expect(w.confirms).toHaveLength(0)
    w.lapsed.lost()
    await w.clock.advance(0)
    w.lapsed.nudge()
    expect(w.confirms).toHaveLength(0)
    w.lapsed.stop()
  })
})

describe('fenceNamesAbsentFloor', () => {
  it('Given a fence taken while the cluster had no write floor, Then the lapsed router does not serve on it (adopt counts only registered routers); a fence on a present floor it may', () => {
    expect(fenceNamesAbsentFloor([{key: 'meta', createRevision: 5n}, {key: 'floor', createRevision: 0n}], 'floor')).toBe(true)
    expect(fenceNamesAbsentFloor([{key: 'meta', createRevision: 5n}, {key: 'floor', createRevision: 7n}], 'floor')).toBe(false)
    expect(fenceNamesAbsentFloor([{key: 'meta', createRevision: 0n}], 'floor')).toBe(false)
  })
})
