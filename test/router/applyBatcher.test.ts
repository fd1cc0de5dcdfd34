import {describe, expect, it} from 'vitest'
import {formatHlc} from '../../src/model/hlc.js'
import {NodeRequestError} from '../../src/node/nodeRequestError.js'
import {type RequestOptions} from '../../src/node/nodeClient.js'
import {type ApplyKind, type NodeRecord} from '../../src/node/protocol.js'
import {ApplyBatcher} from '../../src/router/applyBatcher.js'
import {ManualClock} from '../support/manualClock.js'
import {FakeNode} from './fakeNode.js'

const rec = (k: string, wall = 1): NodeRecord => ({key: Buffer.from(k), version: formatHlc({wall, counter: 0, writer: 'r'}), value: Buffer.from('v')})

function manual() {
  const queue: (() => void)[] = []
  return {schedule: (fn: () => void) => void queue.push(fn), run: () => queue.splice(0).forEach((f) => f())}
}

describe('ApplyBatcher', () => {
  it('sends the applies of one turn for one shard and epoch as one request', async () => {
    const node = new FakeNode('a')
    let calls = 0
    const counting = {get: node.get.bind(node), apply: (...a: Parameters<FakeNode['apply']>) => (calls++, node.apply(...a))}
    const m = manual()
    const b = new ApplyBatcher(counting, {maxRecords: 100, maxBytes: 1 << 20, schedule: m.schedule})
    const ps = [b.apply(0, 1, [rec('x')]), b.apply(0, 1, [rec('y')]), b.apply(1, 1, [rec('z')])]
    m.run()
    await Promise.all(ps)
    expect(calls).toBe(2) // shard 0 (x, y) and shard 1 (z)
    expect([...node.records.keys()].length).toBe(3)
  })

  it('flushes early when a batch is full', async () => {
    const node = new FakeNode('a')
    let calls = 0
    const counting = {get: node.get.bind(node), apply: (...a: Parameters<FakeNode['apply']>) => (calls++, node.apply(...a))}
    const m = manual()
    const b = new ApplyBatcher(counting, {maxRecords: 2, maxBytes: 1 << 20, schedule: m.schedule})
    const ps = [b.apply(0, 1, [rec('a')]), b.apply(0, 1, [rec('b')]), b.apply(0, 1, [rec('c')])]
    expect(calls).toBe(1)
    m.run()
    await Promise.all(ps)
    expect(calls).toBe(2)
  })

  it('gives every caller of a refused batch the refusal (e.g. STALE_EPOCH)', async () => {
    const node = new FakeNode('a')
    node.epoch = 2
    const m = manual()
    const b = new ApplyBatcher(node, {maxRecords: 10, maxBytes: 1 << 20, schedule: m.schedule})
    const ps = [b.apply(0, 1, [rec('a')]), b.apply(0, 1, [rec('b')])].map((p) => p.catch((e: unknown) => e))
    m.run()
    for (const e of await Promise.all(ps)) {
      expect((e as NodeRequestError).code).toBe('STALE_EPOCH')
      expect((e as NodeRequestError).timedOut).toBe(false)
    }
  })

  it('Given a batch whose request timed out at the node client, Then every caller gets an error with timedOut', async () => {
    const node = new FakeNode('a')
    const timingOut = {
      get: node.get.bind(node),
      apply: () => Promise.reject(new NodeRequestError('NODE_UNREACHABLE', 'node a at 127.0.0.1:1: no answer', 'a', 0, undefined, {timedOut: true})),
    }
    const m = manual()
    const b = new ApplyBatcher(timingOut, {maxRecords: 10, maxBytes: 1 << 20, schedule: m.schedule})
    const ps = [b.apply(0, 1, [rec('a')], 'write', {timeoutMs: 500}), b.apply(0, 1, [rec('b')])].map((p) => p.catch((e: unknown) => e))
    m.run()
    const errs = (await Promise.all(ps)) as NodeRequestError[]
    expect(errs.map((e) => [e.code, e.timedOut])).toEqual([
      ['NODE_UNREACHABLE', true],
      ['NODE_UNREACHABLE', true],
    ])
  })

  it('with the real scheduler a lone apply is sent at the end of the turn', async () => {
    const node = new FakeNode('a')
    const b = new ApplyBatcher(node, {maxRecords: 10, maxBytes: 1 << 20})
    await b.apply(0, 1, [rec('solo')])
    expect(node.records.size).toBe(1)
  })

  it('gives each caller the superseded records of its own call, re-indexed from 0', async () => {
    const node = new FakeNode('a')
    await node.apply(0, 1, [rec('y', 50)])
    const m = manual()
    const b = new ApplyBatcher(node, {maxRecords: 10, maxBytes: 1 << 20, schedule: m.schedule})
    const ps = [b.apply(0, 1, [rec('x', 10)]), b.apply(0, 1, [rec('z', 10), rec('y', 10)])]
    m.run()
    const [first, second] = await Promise.all(ps)
    expect(first!.superseded).toEqual([])
    expect(second!.superseded).toEqual([{i: 1, version: rec('y', 50).version}])
  })

  it('gives each caller what its own tombstones replaced, re-indexed from 0', async () => {
    const node = new FakeNode('a')
    await node.apply(0, 1, [rec('y', 5)])
    const m = manual()
    const b = new ApplyBatcher(node, {maxRecords: 10, maxBytes: 1 << 20, schedule: m.schedule})
    const del = (k: string): NodeRecord => ({...rec(k, 10), value: null})
    const ps = [b.apply(0, 1, [del('x')]), b.apply(0, 1, [rec('z', 10), del('y')])]
    m.run()
    const [first, second] = await Promise.all(ps)
    expect(first!.deletePriors).toEqual([{i: 0, live: false}])
    expect(second!.deletePriors).toEqual([{i: 1, version: rec('y', 5).version, live: true}])
  })

  it('slices a batch of many deletes to each of its callers, each getting exactly its own entry re-indexed from 0', async () => {
    const n = 5_000
    const target = {
      get: () => Promise.reject(new Error('unused')),
      apply: async (_s: number, epoch: number, records: readonly NodeRecord[]) => ({epoch, applied: records.length, ignored: 0, superseded: [], deletePriors: records.map((_, i) => ({i, live: i % 3 === 0}))}),
    }
    const m = manual()
    const b = new ApplyBatcher(target, {maxRecords: n, maxBytes: 1 << 30, schedule: m.schedule})
    const ps = Array.from({length: n}, (_, i) => b.apply(0, 1, [{...rec(`k${i}`), value: null}]))
    m.run()
    const all = await Promise.all(ps)
    all.forEach((r, i) => expect(r.deletePriors).toEqual([{i: 0, live: i % 3 === 0}]))
  })

  it('gives each caller the expired tombstones of its own call, re-indexed from 0', async () => {
    const node = new FakeNode('a')
    node.tombstoneCutoff = () => 20
    const m = manual()
    const b = new ApplyBatcher(node, {maxRecords: 10, maxBytes: 1 << 20, schedule: m.schedule})
    const del = (k: string, wall: number): NodeRecord => ({...rec(k, wall), value: null})
    const ps = [b.apply(0, 1, [del('x', 30)]), b.apply(0, 1, [rec('z', 10), del('y', 10)])]
    m.run()
    const [first, second] = await Promise.all(ps)
    expect(first!.expired ?? []).toEqual([])
    expect(second!.expired).toEqual([1])
  })

  it('Given a nearly-expired write batched with others, Then it times out alone and the batch keeps the latest deadline', async () => {
    const clock = new ManualClock()
    const sent: (number | undefined)[] = []
    let answer!: (r: Awaited<ReturnType<FakeNode['apply']>>) => void
    const node = new FakeNode('a')
    const slow = {
      get: node.get.bind(node),
      apply: (shard: number, epoch: number, records: readonly NodeRecord[], kind?: ApplyKind, opts?: RequestOptions) => {
        sent.push(opts?.timeoutMs)
        return new Promise<Awaited<ReturnType<FakeNode['apply']>>>((resolve) => (answer = resolve)).then(async (r) => (await node.apply(shard, epoch, records, kind), r))
      },
    }
    const m = manual()
    const b = new ApplyBatcher(slow, {
      maxRecords: 10,
      maxBytes: 1 << 20,
      schedule: m.schedule,
      node: 'a',
      now: () => clock.now,
      startTimer: clock.startTimer,
    })
    const almostExpired = b.apply(0, 1, [rec('late')], 'write', {timeoutMs: 5}).catch((e: unknown) => e)
    const fresh = b.apply(0, 1, [rec('fresh')], 'write', {timeoutMs: 2000})
    await clock.advance(1)
    m.run()
    expect(sent).toEqual([1999]) // the batch's request is bounded by its latest caller, not its earliest
    await clock.advance(4)
    const err = (await almostExpired) as NodeRequestError
    expect(err.code).toBe('NODE_UNREACHABLE')
    expect(err.message).toMatch(/node a: timed out after 5 ms/)
    expect(err.timedOut).toBe(true)
    answer({applied: 2, ignored: 0} as never)
    await expect(fresh).resolves.toBeDefined()
    expect(clock.pendingTimers()).toBe(0) // the fresh caller's timer was cleared
  })

  it('Given a caller without a timeout in the batch, Then the request uses the target default', async () => {
    const sent: (number | undefined)[] = []
    const node = new FakeNode('a')
    const spy = {get: node.get.bind(node), apply: (shard: number, epoch: number, records: readonly NodeRecord[], kind?: ApplyKind, opts?: RequestOptions) => (sent.push(opts?.timeoutMs), node.apply(shard, epoch, records, kind))}
    const m = manual()
    const b = new ApplyBatcher(spy, {maxRecords: 10, maxBytes: 1 << 20, schedule: m.schedule})
    const ps = [b.apply(0, 1, [rec('a')], 'write', {timeoutMs: 5}), b.apply(0, 1, [rec('b')])]
    m.run()
    await Promise.all(ps)
    expect(sent).toEqual([undefined])
  })
})
