import {describe, expect, it} from 'vitest'
import {keyHash} from '../../src/model/hash.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {type DeliveryOutcome, type HintBatch, type HintEvent, type HintPlacement, HintQueue, type HintQueueOptions, placeHint} from '../../src/router/hintQueue.js'
import {RoutingTable} from '../../src/router/routingTable.js'
import {ManualClock} from '../support/manualClock.js'
import {shardOf} from './fixtures.js'

const rec = (key: string, version: string, value: string | null = 'x'): NodeRecord => ({key: Buffer.from(key), version, value: value === null ? null : Buffer.from(value)})

/**
 * Harness drives a HintQueue on a fake clock: timers fire only inside `advance`, deliveries
 * answer with what `answer` says (default: delivered), and every delivery and event is kept.
 */
class Harness extends ManualClock {
  readonly deliveries: {at: number; batch: HintBatch}[] = []
  readonly events: Record<string, number> = {}
  readonly refreshed: number[] = []
  answer: (b: HintBatch) => DeliveryOutcome | Promise<DeliveryOutcome> = () => 'delivered'
  place: (node: string, key: Buffer) => HintPlacement | undefined = () => ({shard: 1, epoch: 1})
  readonly q: HintQueue

  constructor(opts: Partial<HintQueueOptions> = {}) {
    super()
    this.q = new HintQueue({
      capacity: 100,
      maxBytes: 1 << 20,
      maxAgeMs: 30_000,
      initialBackoffMs: 50,
      maxBackoffMs: 2000,
      concurrency: 4,
      maxBatch: 256,
      place: (n, k) => this.place(n, k),
      deliver: async (batch) => {
        this.deliveries.push({at: this.now, batch: {...batch, records: [...batch.records]}})
        return this.answer(batch)
      },
      refresh: (id) => this.refreshed.push(id),
      now: () => this.now,
      startTimer: this.startTimer,
      onEvent: (e: HintEvent, n: number) => (this.events[e] = (this.events[e] ?? 0) + n),
      ...opts,
    })
  }
}

describe('HintQueue', () => {
  it('delivers a hint after the first backoff, with the original record, and counts it', async () => {
    const h = new Harness()
    expect(h.q.add({shard: 1, epoch: 1, node: 'n2', record: rec('k', 'v1')})).toBe(true)
    await h.advance(49)
    expect(h.deliveries).toEqual([]) // never on the caller's turn, and not before the backoff
    await h.advance(1)
    expect(h.deliveries.map((d) => [d.at, d.batch.node, d.batch.shard, d.batch.epoch, d.batch.records.map((r) => r.version)])).toEqual([[50, 'n2', 1, 1, ['v1']]])
    expect(h.events).toEqual({queued: 1, delivered: 1})
    expect(h.q.size).toBe(0)
    await h.q.idle()
  })

  it('backs off 50 ms doubling to 2 s between failed deliveries and expires the hint at its age bound', async () => {
    const h = new Harness()
    h.answer = () => 'retry'
    h.q.add({shard: 1, epoch: 1, node: 'n2', record: rec('k', 'v1')})
    await h.advance(40_000)
    const at = h.deliveries.map((d) => d.at)
    const gaps = at.slice(1).map((t, i) => t - at[i]!)
    expect(at[0]).toBe(50)
    expect(gaps.slice(0, 6)).toEqual([100, 200, 400, 800, 1600, 2000])
    expect(new Set(gaps.slice(5))).toEqual(new Set([2000]))
    // The last delivery is the last one whose next wait still ends before 30 s after queueing.
    expect(at[at.length - 1]).toBeLessThan(30_000)
    expect(at[at.length - 1]! + 2000).toBeGreaterThanOrEqual(30_000)
    expect(h.events).toEqual({queued: 1, expired: 1})
    expect(h.q.size).toBe(0)
  })

  it('stops retrying as soon as a retry succeeds', async () => {
    const h = new Harness()
    let failures = 3
    h.answer = () => (failures-- > 0 ? 'retry' : 'delivered')
    h.q.add({shard: 1, epoch: 1, node: 'n2', record: rec('k', 'v1')})
    await h.advance(10_000)
    expect(h.deliveries.map((d) => d.at)).toEqual([50, 150, 350, 750])
    expect(h.events).toEqual({queued: 1, delivered: 1})
  })

  it('coalesces by (node, key) keeping the newest version, whatever the order of arrival', async () => {
    const h = new Harness()
    h.q.add({shard: 1, epoch: 1, node: 'n2', record: rec('k', 'v2')})
    h.q.add({shard: 1, epoch: 1, node: 'n2', record: rec('k', 'v1')})
    h.q.add({shard: 1, epoch: 1, node: 'n2', record: rec('j', 'v1')})
    h.q.add({shard: 1, epoch: 1, node: 'n2', record: rec('j', 'v3', null)})
    h.q.add({shard: 1, epoch: 1, node: 'n3', record: rec('k', 'v1')})
    expect(h.q.size).toBe(3)
    await h.advance(100)
    const sent = h.deliveries.flatMap((d) => d.batch.records.map((r) => `${d.batch.node}:${r.key.toString()}@${r.version}${r.value === null ? '(tombstone)' : ''}`)).sort()
    expect(sent).toEqual(['n2:j@v3(tombstone)', 'n2:k@v2', 'n3:k@v1'])
    expect(h.events).toEqual({queued: 5, delivered: 3})
  })

  it('a failed delivery does not bring back an older version over a newer hint queued meanwhile', async () => {
    const h = new Harness()
    let release!: (o: DeliveryOutcome) => void
    h.answer = (b) => (b.records[0]?.version === 'v1' ? new Promise<DeliveryOutcome>((r) => (release = r)) : 'delivered')
    h.q.add({shard: 1, epoch: 1, node: 'n2', record: rec('k', 'v1')})
    await h.advance(50) // v1 in flight
    h.q.add({shard: 1, epoch: 1, node: 'n2', record: rec('k', 'v2')})
    release('retry')
    await h.advance(5000)
    expect(h.deliveries.map((d) => d.batch.records[0]?.version)).toEqual(['v1', 'v2'])
    expect(h.events).toEqual({queued: 2, delivered: 1})
    expect(h.q.size).toBe(0)
  })

  it('drops and counts new hints past its capacity or its byte bound, never growing without limit', async () => {
    const h = new Harness({capacity: 2})
    expect(h.q.add({shard: 1, epoch: 1, node: 'n2', record: rec('a', 'v1')})).toBe(true)
    expect(h.q.add({shard: 1, epoch: 1, node: 'n2', record: rec('b', 'v1')})).toBe(true)
    expect(h.q.add({shard: 1, epoch: 1, node: 'n2', record: rec('c', 'v1')})).toBe(false)
    // A newer version of a pending hint replaces it: no growth, so no drop.
    expect(h.q.add({shard: 1, epoch: 1, node: 'n2', record: rec('a', 'v2')})).toBe(true)
    expect(h.events).toEqual({queued: 3, dropped: 1})
    await h.advance(100)
    expect(h.events.delivered).toBe(2)

    const b = new Harness({maxBytes: 3000})
    expect(b.q.add({shard: 1, epoch: 1, node: 'n2', record: rec('a', 'v1', 'x'.repeat(2000))})).toBe(true)
    expect(b.q.add({shard: 1, epoch: 1, node: 'n2', record: rec('b', 'v1', 'x'.repeat(2000))})).toBe(false)
    expect(b.q.add({shard: 1, epoch: 1, node: 'n2', record: rec('c', 'v1', 'x'.repeat(100))})).toBe(true)
    expect(b.events).toEqual({queued: 2, dropped: 1})
  })

  it('batches up to maxBatch records per (node, shard, epoch) and keeps at most `concurrency` deliveries in flight', async () => {
    const h = new Harness({maxBatch: 256, concurrency: 2, capacity: 1000})
    const gates: (() => void)[] = []
    h.answer = () => new Promise<DeliveryOutcome>((r) => gates.push(() => r('delivered')))
    for (let i = 0; i < 600; i++) h.q.add({shard: 1, epoch: 1, node: 'n2', record: rec(`k${i}`, 'v1')})
    await h.advance(50)
    expect(h.deliveries.map((d) => d.batch.records.length)).toEqual([256, 256])
    for (const g of gates.splice(0)) g()
    await h.advance(0)
    expect(h.deliveries.map((d) => d.batch.records.length)).toEqual([256, 256, 88])
    for (const g of gates.splice(0)) g()
    await h.advance(0)
    expect(h.events).toEqual({queued: 600, delivered: 600})
    expect(new Set(h.deliveries.flatMap((d) => d.batch.records.map((r) => r.key.toString()))).size).toBe(600)
  })

  it('re-resolves every delivery: a fenced one refreshes the map and goes at the new epoch', async () => {
    const h = new Harness()
    let epoch = 1
    h.place = () => ({shard: 7, epoch})
    h.answer = (b) => (b.epoch < 2 ? 'fenced' : 'delivered')
    h.q.add({shard: 7, epoch: 1, node: 'n2', record: rec('k', 'v1')})
    await h.advance(50)
    expect(h.refreshed).toEqual([7])
    epoch = 2 // the refresh landed
    await h.advance(1000)
    expect(h.deliveries.map((d) => d.batch.epoch)).toEqual([1, 2])
    expect(h.events).toEqual({queued: 1, delivered: 1})
  })

  it('never sends a hint to a node that no longer holds the shard: it is dropped as obsolete', async () => {
    const h = new Harness()
    let owner = true
    h.place = () => (owner ? {shard: 7, epoch: 3} : undefined)
    h.answer = () => 'fenced'
    h.q.add({shard: 7, epoch: 2, node: 'n1', record: rec('k', 'v1')})
    await h.advance(50)
    owner = false // the map now says n1 left shard 7
    await h.advance(30_000)
    expect(h.deliveries.map((d) => d.batch.epoch)).toEqual([3])
    expect(h.events).toEqual({queued: 1, obsolete: 1})

    // And a hint whose node has left before its first delivery is never sent at all.
    const g = new Harness()
    g.place = () => undefined
    g.q.add({shard: 7, epoch: 2, node: 'n1', record: rec('k', 'v1')})
    await g.advance(30_000)
    expect(g.deliveries).toEqual([])
    expect(g.events).toEqual({queued: 1, obsolete: 1})
  })

  it('counts a rejected delivery and does not retry it', async () => {
    const h = new Harness()
    h.answer = () => 'rejected'
    h.q.add({shard: 1, epoch: 1, node: 'n2', record: rec('k', 'v1')})
    await h.advance(10_000)
    expect(h.deliveries.length).toBe(1)
    expect(h.events).toEqual({queued: 1, rejected: 1})
  })

  it('a delivery that throws counts as a transient failure', async () => {
    const h = new Harness()
    let first = true
    h.answer = () => {
      if (first) {
        first = false
        return Promise.reject(new Error('boom'))
      }
      return 'delivered'
    }
    h.q.add({shard: 1, epoch: 1, node: 'n2', record: rec('k', 'v1')})
    await h.advance(1000)
    expect(h.deliveries.map((d) => d.at)).toEqual([50, 150])
    expect(h.events).toEqual({queued: 1, delivered: 1})
  })

  it('close drops what is pending (counted) and refuses new hints', async () => {
    const h = new Harness()
    h.q.add({shard: 1, epoch: 1, node: 'n2', record: rec('a', 'v1')})
    h.q.add({shard: 1, epoch: 1, node: 'n2', record: rec('b', 'v1')})
    await h.q.close()
    expect(h.q.add({shard: 1, epoch: 1, node: 'n2', record: rec('c', 'v1')})).toBe(false)
    await h.advance(10_000)
    expect(h.deliveries).toEqual([])
    expect(h.events).toEqual({queued: 2, dropped: 3})
  })
})

describe('placeHint', () => {
  const half = 2 ** 31
  const keyIn = (lo: number, hi: number): Buffer => {
    for (let i = 0; ; i++) {
      const k = Buffer.from(`key-${i}`)
      const x = keyHash(k)
      if (x >= lo && x < hi) return k
    }
  }
  const table = RoutingTable.of([shardOf(1, 'n1 n2 n3:outgoing n4:leaving', {lo: 0, hi: half, epoch: 5}), shardOf(2, 'n1 n5:joining', {lo: half, hi: 2 ** 32, epoch: 9})])

  it('places a hint at the shard owning the key now, at its current epoch, for any write target', () => {
    expect(placeHint(table, 'n2', keyIn(0, half))).toEqual({shard: 1, epoch: 5})
    expect(placeHint(table, 'n3', keyIn(0, half))).toEqual({shard: 1, epoch: 5})
    expect(placeHint(table, 'n5', keyIn(half, 2 ** 32))).toEqual({shard: 2, epoch: 9})
  })

  it('refuses nodes that hold no written replica of that shard (leaving, or none)', () => {
    expect(placeHint(table, 'n4', keyIn(0, half))).toBeUndefined()
    expect(placeHint(table, 'n5', keyIn(0, half))).toBeUndefined()
    expect(placeHint(table, 'n2', keyIn(half, 2 ** 32))).toBeUndefined()
    expect(placeHint(RoutingTable.of([]), 'n1', keyIn(0, half))).toBeUndefined()
  })

  it('refuses a learning destination: a node that left the shard and is being copied back gets no hint queued while it was a voter (the copy and the verification bring what it lacks)', async () => {
    const back = RoutingTable.of([shardOf(1, 'n1 n2 n5 n3:learning', {lo: 0, hi: 2 ** 32, epoch: 12})])
    expect(placeHint(back, 'n3', keyIn(0, half))).toBeUndefined()
    expect(placeHint(back, 'n5', keyIn(0, half))).toEqual({shard: 1, epoch: 12})
    // Through the queue: queued for n3 while it was a voter (epoch 7), it is obsolete once n3 is only learning, never sent.
    const h = new Harness()
    let table = RoutingTable.of([shardOf(1, 'n1 n2 n3', {epoch: 7})])
    h.place = (node, key) => placeHint(table, node, key)
    h.answer = () => 'fenced'
    h.q.add({shard: 1, epoch: 7, node: 'n3', record: rec('k', 'v1')})
    table = back
    await h.advance(30_000)
    expect(h.deliveries).toEqual([])
    expect(h.events).toEqual({queued: 1, obsolete: 1})
  })
})
