import {EventEmitter} from 'node:events'
import {type ServerResponse} from 'node:http'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
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

/** gatedEngine serves `pages` pages like pagedEngine, but each read waits until the test releases (or fails) it. */
function gatedEngine(pages: number) {
  const reads: {cursor: string | undefined; size: number; settled: boolean; release: () => void; fail: (err: Error) => void}[] = []
  return {
    reads,
    engine: {
      readCopyPage: (_range: unknown, cursor: string | undefined, size: number): Promise<CopyPage> =>
        new Promise((resolve, reject) => {
          const n = cursor === undefined ? 1 : Number(cursor) + 1
          const read = {
            cursor,
            size,
            settled: false,
            release: () => {
              read.settled = true
              resolve({batch: Buffer.alloc(size, n), records: 1, cursor: n < pages ? String(n) : undefined})
            },
            fail: (err: Error) => {
              read.settled = true
              reject(err)
            },
          }
          reads.push(read)
        }),
    },
  }
}

describe('writeCopyStream, a page read ahead that fails or outlives its stream', () => {
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown) => void unhandled.push(reason)
  beforeEach(() => {
    unhandled.length = 0
    process.on('unhandledRejection', onUnhandled)
  })
  afterEach(() => void process.off('unhandledRejection', onUnhandled))

  it('given a read ahead that fails while a frame drains, when the drain comes, then the stream rejects with its error and sends nothing more', async () => {
    const {engine, reads} = gatedEngine(5)
    const res = new FakeResponse()
    let outcome: unknown
    writeCopyStream(source(engine as never), res as unknown as ServerResponse).then((v) => (outcome = v), (err: unknown) => (outcome = err))
    await until(() => reads.length === 1)
    reads[0]!.release()
    await until(() => res.batches.length === 1 && reads.length === 2)
    reads[1]!.fail(new Error('disk says no'))
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r))
    expect(outcome).toBeUndefined() // surfaced where a read made after the drain would fail, not earlier
    res.emit('drain')
    await until(() => outcome !== undefined)
    expect((outcome as Error).message).toBe('disk says no')
    expect(res.batches).toHaveLength(1)
    expect(unhandled).toEqual([])
  })

  it('given a stream closed while a page is read ahead, when that read fails later, then the stream said closed, nothing is unhandled and nothing more is read', async () => {
    const {engine, reads} = gatedEngine(5)
    const res = new FakeResponse()
    const done = writeCopyStream(source(engine as never), res as unknown as ServerResponse)
    await until(() => reads.length === 1)
    reads[0]!.release()
    await until(() => res.batches.length === 1 && reads.length === 2)
    res.emit('close')
    expect(await done).toBe('closed')
    reads[1]!.fail(new Error('copy reader is closed'))
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r))
    expect(reads).toHaveLength(2)
    expect(unhandled).toEqual([])
  })

  it('given the stream rate cut while a read ahead is in flight, when it lands, then the same page is read again at the new size and the frames stay in order', async () => {
    const {engine, reads} = gatedEngine(4)
    const res = new FakeResponse()
    const pace = new TokenBucket(null, () => 0)
    const done = writeCopyStream(source(engine as never, {pace}), res as unknown as ServerResponse)
    await until(() => reads.length === 1)
    reads[0]!.release()
    await until(() => res.batches.length === 1 && reads.length === 2)
    pace.setRate(320 * 1024) // 0.1 s of it is 32 KiB
    reads[1]!.release()
    await until(() => reads.length === 3)
    expect(reads[2]).toMatchObject({cursor: '1', size: 32 * 1024})
    reads[2]!.release()
    res.emit('drain')
    await until(() => res.batches.length === 2)
    expect(res.batches[1]!.length).toBe(32 * 1024)
    pace.setRate(null)
    for (let i = 0; i < 20 && !res.ended; i++) {
      for (const r of reads) if (!r.settled) r.release()
      res.emit('drain')
      for (let j = 0; j < 20; j++) await new Promise((r) => setImmediate(r))
    }
    expect(await done).toBe('done')
    expect(res.batches.map((b) => b[0])).toEqual([1, 2, 3, 4])
    expect(reads.filter((r) => r.cursor === '1')).toHaveLength(2) // read twice, sent once
  })
})

/**
 * SlowSocketResponse is a response whose batch writes complete only when the test says so
 * (`complete(i)` runs write i's callback), as a socket's do once the kernel took the bytes.
 */
class SlowSocketResponse extends FakeResponse {
  readonly callbacks: (() => void)[] = []
  override write(chunk: Buffer, cb?: () => void): boolean {
    if (chunk.length >= 64 && cb) this.callbacks.push(cb)
    return super.write(chunk)
  }
  complete(i: number): void {
    this.callbacks[i]!()
  }
}

/** slabEngine serves pages like pagedEngine, each with a `release` that logs its page number (pages in shared slabs, copyPageSlabs.ts). */
function slabEngine(pages: number, readHook?: () => void) {
  const released: number[] = []
  const served: number[] = []
  return {
    released,
    served,
    engine: {
      readCopyPage: async (_range: unknown, cursor: string | undefined, size: number): Promise<CopyPage> => {
        readHook?.()
        const n = cursor === undefined ? 1 : Number(cursor) + 1
        served.push(n)
        return {batch: Buffer.alloc(size, n), records: 1, cursor: n < pages ? String(n) : undefined, release: () => void released.push(n)}
      },
    },
  }
}

describe('writeCopyStream, pages in shared slabs', () => {
  it('given a page written to the socket, when the write has not completed, then its slab is not released; once it completes, it is (once)', async () => {
    const {engine, released} = slabEngine(3)
    const res = new SlowSocketResponse()
    const done = writeCopyStream(source(engine), res as unknown as ServerResponse)
    await until(() => res.batches.length === 1)
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r))
    expect(released).toEqual([]) // the socket may still be reading page 1's bytes
    res.complete(0)
    expect(released).toEqual([1])
    res.emit('drain')
    await until(() => res.batches.length === 2)
    res.emit('drain')
    expect(await done).toBe('done')
    expect(released).toEqual([1]) // pages 2 and 3 still in the socket's queue
    res.complete(1)
    res.complete(2)
    expect(released).toEqual([1, 2, 3])
    res.emit('close') // after 'finish': nothing is released twice
    expect(released).toEqual([1, 2, 3])
  })

  it('given writes that never completed, when the response closes, then their pages and the page read ahead are released, and nothing twice', async () => {
    const {engine, released, served} = slabEngine(5)
    const res = new SlowSocketResponse()
    const done = writeCopyStream(source(engine), res as unknown as ServerResponse)
    await until(() => res.batches.length === 1 && served.length === 2)
    res.emit('close')
    expect(await done).toBe('closed')
    await until(() => released.length === 2)
    expect(released.sort()).toEqual([1, 2])
    res.complete(0) // a late callback (libuv cancelling the write) changes nothing
    expect(released.sort()).toEqual([1, 2])
  })

  it('given the fence lost while a page was read ahead, when the drain comes, then the page read ahead is released, and the one sent only once the socket closed', async () => {
    let lost: string | undefined
    const {engine, released, served} = slabEngine(5)
    const res = new SlowSocketResponse()
    res.destroy = () => {
      res.destroyed = true // a real socket emits 'close' only once its handle closed, later
    }
    const done = writeCopyStream(source(engine, {fenceLost: () => lost}), res as unknown as ServerResponse)
    await until(() => res.batches.length === 1 && served.length === 2)
    lost = 'epoch moved on'
    res.emit('drain')
    expect(await done).toBe('fenced')
    expect(res.destroyed).toBe(true)
    await until(() => released.length === 1)
    expect(released).toEqual([2])
    res.emit('close')
    expect(released).toEqual([2, 1])
    res.complete(0)
    expect(released).toEqual([2, 1])
  })

  it('given the stream rate cut while a page was read ahead at the old rate, when it is read again smaller, then the dropped page is released at once', async () => {
    const {engine, released, served} = slabEngine(4)
    const res = new SlowSocketResponse()
    const pace = new TokenBucket(null, () => 0)
    const done = writeCopyStream(source(engine, {pace}), res as unknown as ServerResponse)
    await until(() => res.batches.length === 1 && served.length === 2)
    pace.setRate(320 * 1024)
    res.emit('drain')
    await until(() => res.batches.length === 2)
    expect(served.slice(0, 3)).toEqual([1, 2, 2])
    expect(released).toEqual([2]) // the page 2 read at the old size, never sent
    pace.setRate(null)
    for (let i = 0; i < 20 && !res.ended; i++) {
      res.emit('drain')
      for (let j = 0; j < 20; j++) await new Promise((r) => setImmediate(r))
    }
    expect(await done).toBe('done')
    res.callbacks.forEach((cb) => cb())
    expect(released.sort()).toEqual([1, 2, 2, 3, 4])
  })
})
