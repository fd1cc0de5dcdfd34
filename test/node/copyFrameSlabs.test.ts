import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'
import {HASH_SPACE} from '../../src/model/hash.js'
import {formatHlc} from '../../src/model/hlc.js'
import {COPY_FRAME_SLAB_BYTES, FrameSlabs, frameSlabCount} from '../../src/node/copyFrameSlabs.js'
import {type CopyFrame, CopyFrameError, encodeFrame, FrameReader} from '../../src/node/copyFrames.js'
import {COPY_SLICE_BYTES} from '../../src/node/copyPuller.js'
import {CopyReceiver} from '../../src/node/copyReceiver.js'
import {NodeThrottles} from '../../src/node/nodeThrottles.js'
import {encodeRecords} from '../../src/node/recordCodec.js'
import {MAX_KEY_BYTES, MAX_VALUE_BYTES} from '../../src/model/recordLimits.js'
import {CopyShardMap, settledPull} from '../support/copyShard.js'
import {type InProcessNode, startInProcessNode} from '../support/inProcessNode.js'

const TOKEN = 'unit-test-token-0123456789'
const ALL = {lo: 0, hi: HASH_SPACE}
/** SLAB_BYTES fits one 16 KiB frame of the test's records and its last record's overshoot. */
const SLAB_BYTES = 32 * 1024
const FRAME_BYTES = 16 * 1024

/** recordsOf are `n` records keyed `prefix<i>`, each value different from every other (so a batch overwritten by another frame's bytes changes the digest). */
function recordsOf(prefix: string, n: number, size: number) {
  return Array.from({length: n}, (_, i) => {
    const value = Buffer.alloc(size, i % 251)
    value.writeUInt32LE(i, 0)
    value.writeUInt32LE(i * 2654435761 >>> 0, size - 4)
    return {key: Buffer.from(`${prefix}${i}`), version: formatHlc({wall: 1_000_000 + i, counter: 0, writer: 'w'}), value}
  })
}

/** wireOf is a copy stream of frames of `perFrame` records each. */
function wireOf(records: ReturnType<typeof recordsOf>, perFrame: number): Buffer {
  const frames: Buffer[] = []
  for (let i = 0; i < records.length; i += perFrame) {
    const last = i + perFrame >= records.length
    frames.push(encodeFrame(encodeRecords(records.slice(i, i + perFrame)), last ? undefined : `c${i}`, last))
  }
  return Buffer.concat(frames)
}

describe('FrameSlabs and FrameReader: frames received into reused slabs', () => {
  it('holds one frame of the size a puller asks for, with the record that may overrun it', () => {
    expect(COPY_FRAME_SLAB_BYTES).toBeGreaterThanOrEqual(COPY_SLICE_BYTES + MAX_VALUE_BYTES + MAX_KEY_BYTES)
    expect([frameSlabCount(undefined), frameSlabCount(' '), frameSlabCount('0'), frameSlabCount('3'), frameSlabCount('64')]).toEqual([10, 10, 0, 3, 64])
    // Bad values are no count (node serve refuses them: frameSlabsEnvProblem), not silently the default.
    expect(['x', '65', '-1', '2.5', '1e1', '0x10'].map(frameSlabCount)).toEqual([undefined, undefined, undefined, undefined, undefined, undefined])
  })

  it('Given a pool of one, When a slab is taken, Then no other frame gets it until it is freed, and a late second free of the old frame frees nothing', () => {
    const slabs = FrameSlabs.create(1, 1024)
    const a = slabs.take(100)!
    expect(a.slab).toBe(0)
    expect(slabs.take(100)).toBeUndefined()
    const freeA = slabs.releaser(a.slab)
    freeA()
    const b = slabs.take(200)!
    expect(b.slab).toBe(0)
    freeA()
    expect(slabs.available()).toBe(0)
    expect(slabs.take(10)).toBeUndefined()
    slabs.releaser(b.slab)()
    expect(slabs.take(2048)).toBeUndefined()
    expect(slabs.available()).toBe(1)
  })

  it('Given a pool of one, When a frame is held while the next ones arrive, Then its bytes stay as received (the next frames get buffers of their own) and once freed the slab is used again', () => {
    const records = recordsOf('r', 40, 300)
    const wire = wireOf(records, 4)
    const slabs = FrameSlabs.create(1, 4096)
    const reader = new FrameReader(slabs)
    const frames: CopyFrame[] = []
    for (let at = 0; at < wire.length; at += 700) frames.push(...reader.push(wire.subarray(at, at + 700)))
    expect(frames).toHaveLength(10)
    const expected = (i: number) => encodeRecords(records.slice(i * 4, i * 4 + 4))
    // The first frame took the slab and kept it: every later one is in a buffer of its own.
    expect(frames.map((f) => f.slab)).toEqual([0, ...Array(9).fill(undefined)])
    frames.forEach((f, i) => expect(f.batch.equals(expected(i))).toBe(true))
    frames[0]!.release!()
    const again = new FrameReader(slabs)
    const next = again.push(wire)
    expect(next[0]!.slab).toBe(0)
    expect(next[0]!.batch.equals(expected(0))).toBe(true)
    // A frame not whole when its stream stops frees its slab (dispose); so does a stream that turns out malformed.
    next[0]!.release!()
    const cut = new FrameReader(slabs)
    expect(cut.push(wire.subarray(0, 100))).toEqual([])
    expect(slabs.available()).toBe(0)
    cut.dispose()
    expect(slabs.available()).toBe(1)
    const bad = new FrameReader(slabs)
    const one = wireOf(records.slice(0, 4), 4)
    expect(() => bad.push(Buffer.concat([one, Buffer.from([1, 2, 3])]))).toThrow(CopyFrameError)
    expect(slabs.available()).toBe(1)
  })
})

/** Side is a node served in this process, with the map the test edits. */
type Side = InProcessNode & {map: CopyShardMap}

describe('copies through a pool of two frame slabs', {timeout: 60_000}, () => {
  let src: Side
  let threaded: Side
  let direct: Side
  let receiver: CopyReceiver
  const closers: (() => Promise<void>)[] = []

  beforeAll(async () => {
    const map = new CopyShardMap('src')
    src = {...(await startInProcessNode({nodeId: 'src', map, token: TOKEN, tombstoneGraceMs: 3_600_000, timeoutMs: 5000, dirPrefix: 'shardctl-slabs-src-', copy: {peer: () => {
      throw new Error('the source pulls nothing')
    }, throttles: new NodeThrottles(Date.now)}})), map}
    closers.push(() => src.close())
    await src.engine.apply(recordsOf('k', 1500, 1000))
    // Through the copy receive thread, committed in the writer thread: what a served node runs.
    receiver = new CopyReceiver({peers: () => ({token: TOKEN, timeoutMs: 5000, tls: undefined}), idleMs: 5000, slabs: () => threaded.engine.copyFrameSlabs()})
    closers.push(() => receiver.close())
    // Both destinations are `dst`, the joining replica of the copy tests' map, each a node of its own.
    const tMap = new CopyShardMap('dst')
    threaded = {...(await startInProcessNode({nodeId: 'dst', map: tMap, token: TOKEN, tombstoneGraceMs: 3_600_000, timeoutMs: 5000, dirPrefix: 'shardctl-slabs-t-', writerThread: true, copy: {peer: () => {
      throw new Error('a copy through the receive thread must not open a stream on the main thread')
    }, frames: receiver, throttles: new NodeThrottles(Date.now)}})), map: tMap}
    closers.push(() => threaded.close())
    // Frames cut on the main thread (the puller's own reader), committed in the writer thread.
    const dMap = new CopyShardMap('dst')
    const peer = src.client
    direct = {...(await startInProcessNode({nodeId: 'dst', map: dMap, token: TOKEN, tombstoneGraceMs: 3_600_000, timeoutMs: 5000, dirPrefix: 'shardctl-slabs-d-', writerThread: true, copy: {peer: () => peer, throttles: new NodeThrottles(Date.now)}})), map: dMap}
    closers.push(() => direct.close())
  })

  afterAll(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined)
  })

  for (const via of ['the copy receive thread', "the puller's own frame reader"] as const) {
    it(`Given two slabs and ${via}, When a copy of many frames runs (each frame received while the one before commits), Then the destination equals the source (digests), the frames went through the slabs and every slab is free again`, async () => {
      const dst = via === 'the copy receive thread' ? threaded : direct
      // Made first, so the node's pool is these two small slabs (frames of 16 KiB): every slab is reused about 50 times.
      const slabs = dst.engine.copyFrameSlabs(2, SLAB_BYTES)!
      const inSlab = vi.spyOn(slabs, 'indexOf')
      await dst.client.pull(1, {moveId: `m-${dst === threaded ? 't' : 'd'}`, epoch: 5, sources: [{node: 'src', address: src.client.address}], rate: null, frameBytes: FRAME_BYTES})
      const status = await settledPull(dst.client, 1, 30_000)
      expect(status.error ?? null).toBeNull()
      expect(status).toMatchObject({state: "done", keys: 1500})
      expect(dst.engine.digest(ALL)).toEqual(src.engine.digest(ALL))
      const hits = inSlab.mock.results.filter((r) => (r.value as number) >= 0).length
      expect(hits).toBeGreaterThan(20)
      expect(slabs.available()).toBe(2)
    })
  }
})
