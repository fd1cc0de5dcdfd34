import {afterEach, describe, expect, it, vi} from 'vitest'
import {seededRandom} from '../../bench/seededRandom.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {DueHeap} from '../../src/router/dueHeap.js'
import {type DeliveryOutcome, HINT_DEFAULTS, type Hint, type HintBatch, type HintPlacement, HintQueue, type HintQueueOptions} from '../../src/router/hintQueue.js'
import {ManualClock, settle} from '../support/manualClock.js'
import {ScanHintQueue} from './scanHintQueue.js'

/** QueueUnderTest is what both the heap-backed HintQueue and its reference model offer. */
interface QueueUnderTest {
  add(hint: Hint): boolean
  readonly size: number
  close(): Promise<void>
}

type Answer = DeliveryOutcome | 'throw'

/**
 * Sim drives one queue on a fake clock: timers fire only inside `advance` (in time order),
 * deliveries wait until the test answers them, and everything the queue does that can be
 * seen from outside (deliveries with their time, placement and records; events; refreshes;
 * add's answers) goes into `log`, in order.
 */
class Sim extends ManualClock {
  readonly log: string[] = []
  readonly held: {resolve: (o: DeliveryOutcome) => void; reject: (e: Error) => void}[] = []
  readonly q: QueueUnderTest

  constructor(make: (opts: HintQueueOptions) => QueueUnderTest, opts: Omit<HintQueueOptions, 'deliver' | 'refresh' | 'now' | 'startTimer' | 'onEvent'>) {
    super()
    this.q = make({
      ...opts,
      deliver: (b: HintBatch) => {
        this.log.push(`@${this.now} deliver ${b.node} s${b.shard} e${b.epoch} ${b.records.map((r) => `${r.key.toString()}@${r.version}:${r.value === null ? 'tombstone' : r.value.length}`).join(',')}`)
        return new Promise<DeliveryOutcome>((resolve, reject) => this.held.push({resolve, reject}))
      },
      refresh: (id) => this.log.push(`@${this.now} refresh s${id}`),
      now: () => this.now,
      startTimer: this.startTimer,
      onEvent: (e, n) => this.log.push(`@${this.now} ${e} ${n}`),
    })
  }

  add(hint: Hint): void {
    this.log.push(`@${this.now} add ${hint.node} ${hint.record.key.toString()}@${hint.record.version} -> ${this.q.add(hint)}`)
  }

  /** answer ends held delivery `i` with `outcome` (`throw`: the deliver promise rejects). */
  async answer(i: number, outcome: Answer): Promise<void> {
    const [d] = this.held.splice(i, 1)
    if (outcome === 'throw') d!.reject(new Error('boom'))
    else d!.resolve(outcome)
    await settle()
  }
}

const record = (key: string, version: string, value: number | null): NodeRecord => ({key: Buffer.from(key), version, value: value === null ? null : Buffer.alloc(value, 120)})

afterEach(() => {
  vi.restoreAllMocks()
})

describe('HintQueue rounds', () => {
  it('Given 10,000 pending hints of which one is due, When its round runs, Then it delivers that one and touches none of the rest', async () => {
    let placed = 0
    const h = new Sim((o) => new HintQueue(o), {
      ...HINT_DEFAULTS,
      place: (): HintPlacement => {
        placed++
        return {shard: 1, epoch: 1}
      },
    })
    h.add({shard: 1, epoch: 1, node: 'n2', record: record('due', 'v1', 10)}) // due at 50
    await h.advance(40)
    for (let i = 0; i < 9_999; i++) h.q.add({shard: 1, epoch: 1, node: 'n2', record: record(`later-${i}`, 'v1', 10)}) // due at 90
    expect(h.q.size).toBe(10_000)

    const dueBy = vi.spyOn(DueHeap.prototype, 'dueBy')
    const pops = vi.spyOn(DueHeap.prototype, 'pop')
    const pushes = vi.spyOn(DueHeap.prototype, 'push')
    const removes = vi.spyOn(DueHeap.prototype, 'remove')
    const mapWalks = (['values', 'entries', 'keys', 'forEach', Symbol.iterator] as const).map((m) => vi.spyOn(Map.prototype as unknown as Record<typeof m, () => unknown>, m))
    h.log.length = 0
    await h.advance(10)
    expect(h.log).toEqual(['@50 deliver n2 s1 e1 due@v1:10'])
    expect(placed).toBe(1)
    // The round walked the heap's due subtree (one hint: O(1) comparisons, see dueHeap.test.ts)
    // and took that hint off it (O(log n)); it iterated no map of the pending hints.
    expect(dueBy.mock.results.map((r) => (r.value as unknown[] | undefined)?.length)).toEqual([1])
    expect(removes).toHaveBeenCalledTimes(1)
    expect(pops).not.toHaveBeenCalled()
    expect(pushes).not.toHaveBeenCalled()
    for (const walk of mapWalks) expect(walk.mock.contexts.filter((m) => (m as Map<unknown, unknown>).size >= 9_999)).toEqual([])
    vi.restoreAllMocks()

    await h.answer(0, 'delivered')
    expect(h.q.size).toBe(9_999)
    // The rest go out at their own due time, 256 to a delivery.
    await h.advance(39)
    expect(h.held).toHaveLength(0)
    await h.advance(1)
    expect(h.held).toHaveLength(4)
    expect(h.log.filter((l) => l.includes(' deliver ')).slice(1).every((l) => l.startsWith('@90 '))).toBe(true)
    while (h.held.length > 0) {
      await h.answer(0, 'delivered')
      await h.advance(0)
    }
    expect(h.q.size).toBe(0)
    expect(h.log.filter((l) => l.includes(' delivered ')).reduce((n, l) => n + Number(l.split(' ')[2]), 0)).toBe(10_000)
  })
})

/** World is the router's map as the hints see it, changed by the randomized test between steps: per shard its epoch, and which nodes left it. */
class World {
  readonly epochs = [1, 1, 1]
  readonly left = new Set<string>()
  place = (node: string, key: Buffer): HintPlacement | undefined => {
    const shard = key[key.length - 1]! % 3
    return this.left.has(`${node}/${shard}`) ? undefined : {shard, epoch: this.epochs[shard]!}
  }
}

interface Shape {
  name: string
  seeds: number
  steps: number
  keys: number
  /** burst: hints added at most per add step. */
  burst: number
  opts: Omit<HintQueueOptions, 'place' | 'deliver' | 'refresh' | 'now' | 'startTimer' | 'onEvent'>
}

const SHAPES: Shape[] = [
  // Tight bounds: capacity, bytes, batch size and batch bytes are all hit often.
  {name: 'tight bounds', seeds: 60, steps: 250, keys: 16, burst: 3, opts: {capacity: 12, maxBytes: 4000, maxAgeMs: 3000, initialBackoffMs: 50, maxBackoffMs: 400, concurrency: 2, maxBatch: 3, maxBatchBytes: 1500}},
  // Hundreds pending: rounds where few of them are due (sorted off the heap) and rounds where many are (the put-order filter).
  {name: 'hundreds pending', seeds: 15, steps: 250, keys: 500, burst: 40, opts: {capacity: 300, maxBytes: 100_000, maxAgeMs: 5000, initialBackoffMs: 50, maxBackoffMs: 800, concurrency: 3, maxBatch: 16, maxBatchBytes: 4000}},
]

/** run plays one seeded sequence of steps on the heap-backed queue and on the model alike, comparing what each did after every step. */
async function run(shape: Shape, seed: number): Promise<void> {
  const random = seededRandom(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!
  const world = new World()
  const heap = new Sim((o) => new HintQueue(o), {...shape.opts, place: world.place})
  const model = new Sim((o) => new ScanHintQueue(o), {...shape.opts, place: world.place})
  const both = async (step: string, fn: (s: Sim) => void | Promise<void>) => {
    await fn(heap)
    await fn(model)
    expect(heap.log, `seed ${seed}, after ${step}`).toEqual(model.log)
    expect(heap.q.size, `seed ${seed}, size after ${step}`).toBe(model.q.size)
    expect(heap.held.length).toBe(model.held.length)
  }
  for (let step = 0; step < shape.steps; step++) {
    const r = random()
    if (r < 0.35) {
      // add (a new hint, or a newer, older or equal version of a pending one: coalescing and its bounds)
      const hints: Hint[] = []
      for (let n = 1 + Math.floor(random() * shape.burst); n > 0; n--) {
        const size = pick([10, 10, 10, 200, 600, null])
        hints.push({shard: 0, epoch: 1, node: pick(['n1', 'n2', 'n3']), record: record(`k${Math.floor(random() * shape.keys)}`, `v${String(Math.floor(random() * 40)).padStart(2, '0')}`, size)})
      }
      await both(`add ${hints.length}`, (s) => hints.forEach((h) => s.add(h)))
    } else if (r < 0.6) {
      const ms = pick([0, 1, 25, 50, 100, 400, 1500, 3500])
      await both(`advance ${ms}`, (s) => s.advance(ms))
    } else if (r < 0.87) {
      if (heap.held.length === 0) continue
      const i = Math.floor(random() * heap.held.length)
      const outcome = pick<Answer>(['delivered', 'delivered', 'delivered', 'retry', 'retry', 'fenced', 'rejected', 'rejected', 'throw'])
      await both(`answer ${i} ${outcome}`, (s) => s.answer(i, outcome))
    } else if (random() < 0.5) {
      world.epochs[Math.floor(random() * 3)]!++
    } else {
      const gone = `${pick(['n1', 'n2', 'n3'])}/${Math.floor(random() * 3)}`
      if (world.left.has(gone)) world.left.delete(gone)
      else world.left.add(gone)
    }
  }
  // The end: every delivery is answered, time runs past every hint's age; or the queue closes.
  if (random() < 0.3) await both('close', async (s) => void s.q.close())
  for (let i = 0; i < 10_000 && heap.q.size > 0; i++) {
    if (heap.held.length > 0) await both('drain', (s) => s.answer(0, 'delivered'))
    else await both('drain advance', (s) => s.advance(100))
  }
  expect(heap.q.size).toBe(0)
}

describe('HintQueue against the scan it replaced', {timeout: 120_000}, () => {
  for (const shape of SHAPES) {
    it(`Given seeded random adds, replacements, answers, map changes and time (${shape.name}), Then it does exactly what the scanning queue did`, async () => {
      const dueBy = vi.spyOn(DueHeap.prototype, 'dueBy')
      for (let seed = 1; seed <= shape.seeds; seed++) await run(shape, seed)
      // Both ways a round orders the due hints were taken (a sorted few, or the put-order filter).
      const found = dueBy.mock.results.map((r) => r.value as unknown[] | undefined)
      expect(found.some((x) => x === undefined)).toBe(true)
      if (shape.opts.capacity > 100) expect(found.some((x) => x !== undefined && x.length > 1)).toBe(true)
    })
  }
})
