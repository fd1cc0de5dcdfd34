import {EventEmitter} from 'node:events'
import {type ServerResponse} from 'node:http'
import {describe, expect, it} from 'vitest'
import {type CopyPage} from '../../src/node/copyPageReader.js'
import {FIRST_PAGE_BYTES, writeCopyStream} from '../../src/node/copyStreamSource.js'
import {TokenBucket} from '../../src/throttle/tokenBucket.js'

/**
 * FakeResponse stands in for the HTTP response a copy stream writes to: every batch write
 * reports a full socket (returns false) until the test emits 'drain', as a real socket
 * does with MiB frames; frame heads (small) are accepted.
 */
class FakeResponse extends EventEmitter {
  readonly batches: Buffer[] = []
  ended = false
  destroyed = false
  write(chunk: Buffer): boolean {
    if (chunk.length < 64) return true // a frame head
    this.batches.push(chunk)
    return false
  }
  end(): void {
    this.ended = true
  }
  destroy(): void {
    this.destroyed = true
    this.emit('close')
  }
}

/** pagedEngine serves `pages` pages of `asked` bytes each (the last has no cursor) and logs every read: its cursor and size. */
function pagedEngine(pages: number) {
  const reads: {cursor: string | undefined; size: number}[] = []
  return {
    reads,
    engine: {
      readCopyPage: async (_range: unknown, cursor: string | undefined, size: number): Promise<CopyPage> => {
        reads.push({cursor, size})
        const n = cursor === undefined ? 1 : Number(cursor) + 1
        return {batch: Buffer.alloc(size, n), records: 1, cursor: n < pages ? String(n) : undefined}
      },
    },
  }
}

/** until polls `cond` on the event loop (the stream's awaits resolve in between) for up to 2 s. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setImmediate(r))
  expect(cond()).toBe(true)
}

function source(engine: ReturnType<typeof pagedEngine>['engine'], over: {fenceLost?: () => string | undefined; pace?: TokenBucket} = {}) {
  return {engine: engine as never, range: {lo: 0, hi: 2 ** 32}, cursor: undefined, frameBytes: 1024 * 1024, fenceLost: over.fenceLost ?? (() => undefined), buckets: [], pace: over.pace, sleep: async () => {}}
}

describe('writeCopyStream', () => {
  it('given a socket still draining a frame, when the stream goes on, then the next page is already being read (one page ahead, not more)', async () => {
    const {engine, reads} = pagedEngine(3)
    const res = new FakeResponse()
    const done = writeCopyStream(source(engine), res as unknown as ServerResponse)
    await until(() => res.batches.length === 1)
    // The first frame is still draining: without read-ahead the second read waited for the drain.
    await until(() => reads.length === 2)
    expect(reads[1]).toEqual({cursor: '1', size: 2 * FIRST_PAGE_BYTES})
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r))
    expect(reads).toHaveLength(2) // not a third before the drain
    res.emit('drain')
    await until(() => res.batches.length === 2)
    res.emit('drain')
    expect(await done).toBe('done')
    expect(res.batches.map((b) => b[0])).toEqual([1, 2, 3])
    expect(res.ended).toBe(true)
  })

  it('given the fence lost while a page was read ahead, when the drain comes, then that page is not sent and the stream is cut', async () => {
    const {engine, reads} = pagedEngine(5)
    const res = new FakeResponse()
    let lost: string | undefined
    const done = writeCopyStream(source(engine, {fenceLost: () => lost}), res as unknown as ServerResponse)
    await until(() => res.batches.length === 1 && reads.length === 2)
    lost = 'epoch moved on'
    res.emit('drain')
    expect(await done).toBe('fenced')
    expect(res.destroyed).toBe(true)
    expect(res.batches).toHaveLength(1)
  })

  it('given the fence lost while a page is being read, when the page is ready, then it is not sent', async () => {
    const {engine} = pagedEngine(3)
    let lost: string | undefined
    const reading = {readCopyPage: async (...args: Parameters<typeof engine.readCopyPage>) => {
      lost = 'role gone'
      return engine.readCopyPage(...args)
    }}
    const res = new FakeResponse()
    expect(await writeCopyStream(source(reading, {fenceLost: () => lost}), res as unknown as ServerResponse)).toBe('fenced')
    expect(res.batches).toHaveLength(0)
    expect(res.destroyed).toBe(true)
  })

  it('given the stream rate cut while a page was read ahead at the old rate, when it is due, then it is read again at the new size before it is sent', async () => {
    const {engine, reads} = pagedEngine(4)
    const res = new FakeResponse()
    const pace = new TokenBucket(null, () => 0) // unlimited: pages grow 64 KiB, 128 KiB, ...
    const done = writeCopyStream(source(engine, {pace}), res as unknown as ServerResponse)
    await until(() => res.batches.length === 1 && reads.length === 2)
    expect(reads[1]!.size).toBe(2 * FIRST_PAGE_BYTES)
    pace.setRate(320 * 1024) // 0.1 s of it is 32 KiB
    res.emit('drain')
    await until(() => res.batches.length === 2)
    expect(reads[2]).toEqual({cursor: '1', size: 32 * 1024}) // the same page again, smaller
    expect(res.batches[1]!.length).toBe(32 * 1024)
    pace.setRate(null)
    res.emit('drain')
    await until(() => res.batches.length === 3)
    res.emit('drain')
    await until(() => res.batches.length === 4)
    res.emit('drain')
    expect(await done).toBe('done')
  })
})
