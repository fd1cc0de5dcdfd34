/**
 * bench/hintQueueRound.ts — the CPU cost of one delivery round of the router's hint queue
 * (`npm run bench:hint-queue`), on an injected clock and timer, with no I/O: deliveries
 * answer `delivered` at once.
 *
 * - `1 due`: PENDING hints wait for a delivery far in the future; one more is added and
 *   its round (the timer's pump, then the settling of its delivery, which re-arms the
 *   timer) is timed, ROUNDS times: what thousands of hints backing off for a replica
 *   that is down add to the delivery of every other hint.
 * - `all due`: PENDING hints are all due at once; the first round (it starts the
 *   `concurrency` deliveries and leaves the rest pending) is timed, on a fresh queue each
 *   time, FULL_ROUNDS times.
 *
 * Prints µs per round (median and p99 of the timed pump calls; process CPU per round
 * beside it). Env: BENCH_PENDING (default 10000), BENCH_ROUNDS (2000), BENCH_FULL_ROUNDS (30).
 */
import {loadavg} from 'node:os'
import {HINT_DEFAULTS, HintQueue} from '../src/router/hintQueue.js'

const PENDING = Number(process.env.BENCH_PENDING ?? 10_000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2000)
const FULL_ROUNDS = Number(process.env.BENCH_FULL_ROUNDS ?? 30)
const FAR = 1e12

/** FakeTime is the queue's clock and timer: the last armed timer is the one a round fires. */
class FakeTime {
  now = 0
  armed: (() => void) | undefined
  startTimer = (fn: () => void): (() => void) => {
    this.armed = fn
    return () => {
      if (this.armed === fn) this.armed = undefined
    }
  }
}

function makeQueue(time: FakeTime): HintQueue {
  return new HintQueue({
    ...HINT_DEFAULTS,
    capacity: PENDING + 1,
    place: () => ({shard: 1, epoch: 1}),
    deliver: () => Promise.resolve('delivered'),
    refresh: () => {},
    now: () => time.now,
    startTimer: time.startTimer,
  })
}

const record = (key: string) => ({key: Buffer.from(key), version: '0000000000001-00000-r1', value: Buffer.from('x'.repeat(100))})

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!
}

async function oneDue(): Promise<number[]> {
  const time = new FakeTime()
  const q = makeQueue(time)
  time.now = FAR
  for (let i = 0; i < PENDING; i++) q.add({shard: 1, epoch: 1, node: 'n2', record: record(`wait-${i}`)})
  const us: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    time.now = r * 100
    q.add({shard: 1, epoch: 1, node: 'n2', record: record(`due-${r}`)})
    time.now += HINT_DEFAULTS.initialBackoffMs
    const fire = time.armed!
    const t0 = performance.now()
    fire()
    await Promise.resolve() // the delivery settles (and re-arms the timer)
    await Promise.resolve()
    us.push((performance.now() - t0) * 1000)
  }
  if (q.size !== PENDING) throw new Error(`expected ${PENDING} pending, found ${q.size}`)
  return us
}

async function allDue(): Promise<number[]> {
  const us: number[] = []
  for (let r = 0; r < FULL_ROUNDS; r++) {
    const time = new FakeTime()
    const q = makeQueue(time)
    for (let i = 0; i < PENDING; i++) q.add({shard: 1, epoch: 1, node: `n${i % 8}`, record: record(`k-${i}`)})
    time.now = HINT_DEFAULTS.initialBackoffMs
    const fire = time.armed!
    const t0 = performance.now()
    fire()
    us.push((performance.now() - t0) * 1000)
    await q.close()
  }
  return us
}

async function main(): Promise<void> {
  console.log(`hint queue round, ${PENDING} pending, node ${process.version}, load ${loadavg()[0]!.toFixed(2)}`)
  for (const [name, run] of [
    ['1 due', oneDue],
    ['all due', allDue],
  ] as const) {
    await run() // warm-up
    const cpu0 = process.cpuUsage()
    const us = await run()
    const cpu = process.cpuUsage(cpu0)
    console.log(`${name.padEnd(8)} rounds ${String(us.length).padStart(5)}  median ${percentile(us, 0.5).toFixed(1).padStart(8)} µs  p99 ${percentile(us, 0.99).toFixed(1).padStart(8)} µs  (process CPU ${((cpu.user + cpu.system) / us.length).toFixed(0)} µs/round incl. setup)`)
  }
}

await main()
