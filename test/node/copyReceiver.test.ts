import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import {type AddressInfo} from 'node:net'
import {type Worker} from 'node:worker_threads'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {HASH_SPACE} from '../../src/model/hash.js'
import {formatHlc} from '../../src/model/hlc.js'
import {type CopyFrame, CopyFrameError, encodeFrame, FrameReader} from '../../src/node/copyFrames.js'
import {CopyReceiveThreadError} from '../../src/node/copyReceiveProtocol.js'
import {CopyReceiver} from '../../src/node/copyReceiver.js'
import {NodeRequestError} from '../../src/node/nodeRequestError.js'
import {NodeThrottles} from '../../src/node/nodeThrottles.js'
import {encodeRecords} from '../../src/node/recordCodec.js'
import {transferableCopyOf} from '../../src/node/transferableBatch.js'
import {CopyShardMap, expectPullPacedByReceiveThrottle, settledPull} from '../support/copyShard.js'
import {type InProcessNode, startInProcessNode} from '../support/inProcessNode.js'

const TOKEN = 'unit-test-token-0123456789'
const ALL = {lo: 0, hi: HASH_SPACE}

/** Side is a node served in this process, with the map the test edits. */
type Side = InProcessNode & {map: CopyShardMap}

const servers: Server[] = []
let receiver: CopyReceiver
let src: Side
let dst: Side

/** side serves a node's API; a destination (`frames`) receives its copies through the receive thread. */
async function side(id: string, frames?: CopyReceiver): Promise<Side> {
  const map = new CopyShardMap(id)
  const copy = {
    peer: () => {
      throw new Error('a copy through the receive thread must not open a stream on the main thread')
    },
    frames,
    throttles: new NodeThrottles(Date.now),
  }
  return {...(await startInProcessNode({nodeId: id, map, token: TOKEN, tombstoneGraceMs: 3_600_000, timeoutMs: 5000, dirPrefix: `shardctl-recv-${id}-`, writerThread: true, copy})), map}
}

/** fakeSource serves `handle` as a copy source's stream route; returns its address and the sockets it saw close. */
async function fakeSource(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<{address: string; closed: () => number}> {
  let closed = 0
  const server = createServer((req, res) => {
    req.socket.once('close', () => closed++)
    handle(req, res)
  })
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {address: `127.0.0.1:${(server.address() as AddressInfo).port}`, closed: () => closed}
}

const streamHead = {'content-type': 'application/x-shardctl-copy-stream'}

/** frameOf is a frame of `n` records of `size`-byte values keyed `prefix<i>`. */
function frameOf(prefix: string, n: number, size: number, cursor: string | undefined, last = false): Buffer {
  const records = Array.from({length: n}, (_, i) => ({key: Buffer.from(`${prefix}${i}`), version: formatHlc({wall: 1_000_000 + i, counter: 0, writer: 'w'}), value: Buffer.alloc(size, i % 256)}))
  return encodeFrame(encodeRecords(records), cursor, last)
}

/** directFrames cuts the stream on this thread (the path the receive thread replaces), for comparison. */
async function directFrames(cursor: string | undefined, frameBytes: number): Promise<CopyFrame[]> {
  const reader = new FrameReader()
  const out: CopyFrame[] = []
  for await (const chunk of src.client.copyStream(1, 5, {cursor, frameBytes, signal: new AbortController().signal})) out.push(...reader.push(chunk))
  return out
}

async function thrown(p: AsyncIterable<unknown>): Promise<unknown> {
  try {
    for await (const _ of p) void _
  } catch (err) {
    return err
  }
  return undefined
}

const sourceAt = (address: string, node = 'src') => ({node, address})

beforeAll(async () => {
  receiver = new CopyReceiver({peers: () => ({token: TOKEN, timeoutMs: 5000, tls: undefined}), idleMs: 1500})
  src = await side('src')
  dst = await side('dst', receiver)
  const records = Array.from({length: 3000}, (_, i) => ({key: Buffer.from(`k${i}`), version: formatHlc({wall: 1_000_000 + i, counter: 0, writer: 'w'}), value: i % 11 === 0 ? null : Buffer.alloc(300, i % 256)}))
  await src.engine.apply(records)
})

afterAll(async () => {
  await receiver.close()
  for (const s of servers) {
    s.closeAllConnections()
    await new Promise((r) => s.close(r))
  }
  for (const s of [src, dst]) await s.close()
})

describe('CopyReceiver: copy streams received in the copy receive thread', {timeout: 30_000}, () => {
  it('Given a source, When its stream is opened through the thread, Then the frames are the stream cut on this thread, in order, each batch a whole transferable buffer', async () => {
    const direct = await directFrames(undefined, 64 * 1024)
    const got: CopyFrame[] = []
    for await (const f of receiver.openFrames(sourceAt(src.client.address), 1, 5, undefined, 64 * 1024, new AbortController().signal)) got.push(f)
    expect(got.length).toBeGreaterThan(3)
    expect(got.map((f) => [f.cursor, f.last, f.batch.toString('hex')])).toEqual(direct.map((f) => [f.cursor, f.last, f.batch.toString('hex')]))
    // Each batch arrived moved, not copied, and the writer thread can take it the same way (no copy on this thread).
    for (const f of got) expect(transferableCopyOf(f.batch)).toBe(f.batch)
    // Resuming from a frame's cursor gives the same rest of the stream both ways.
    const mid = direct[2]!.cursor
    const rest: CopyFrame[] = []
    for await (const f of receiver.openFrames(sourceAt(src.client.address), 1, 5, mid, 64 * 1024, new AbortController().signal)) rest.push(f)
    expect(rest.map((f) => [f.cursor, f.batch.toString('hex')])).toEqual((await directFrames(mid, 64 * 1024)).map((f) => [f.cursor, f.batch.toString('hex')]))
    expect(receiver.openStreams()).toBe(0)
  })

  it('Given a pace, When a stream is opened through the thread, Then the source paces it as that move\'s (and the rate can be changed there)', async () => {
    const abort = new AbortController()
    const frames = receiver.openFrames(sourceAt(src.client.address), 1, 5, undefined, 64 * 1024, abort.signal, {move: 'through-thread', rate: 64 * 1024})[Symbol.asyncIterator]()
    expect((await frames.next()).done).toBe(false)
    expect(await src.client.streamRate(1, {move: 'through-thread', rate: 128 * 1024})).toEqual({streams: 1})
    abort.abort()
    await frames.return?.(undefined)
    let left = 1
    for (let i = 0; i < 200 && left > 0; i++) {
      left = (await src.client.streamRate(1, {move: 'through-thread', rate: null})).streams
      if (left > 0) await new Promise((r) => setTimeout(r, 10))
    }
    expect(left).toBe(0)
  })

  it('Given a destination pulling through the thread, When the copy runs, cancelled midway and resumed, Then its data equals the source (digests) and it resumed from its cursor', async () => {
    await dst.client.setThrottle({receive: 64 * 1024})
    try {
      await dst.client.pull(1, {moveId: 'm1', epoch: 5, sources: [sourceAt(src.client.address)], rate: null, frameBytes: 16 * 1024})
      await new Promise((r) => setTimeout(r, 500))
      const c = await dst.client.cancelPull(1, 'm1')
      expect(c.state).toBe('cancelled')
      expect(c.keys).toBeGreaterThan(0)
      expect(c.keys).toBeLessThan(3000)
      expect(c.cursor).not.toBeNull()
    } finally {
      await dst.client.setThrottle({receive: null})
    }
    await dst.client.pull(1, {moveId: 'm1', epoch: 5, sources: [sourceAt(src.client.address)], rate: null, frameBytes: 64 * 1024})
    // Resumed, not restarted: the keys counted come to the shard's (a restart would count the first part twice).
    expect(await settledPull(dst.client)).toMatchObject({state: 'done', keys: 3000, source: 'src'})
    expect(dst.engine.digest(ALL)).toEqual(src.engine.digest(ALL))
  })

  it('Given a receive throttle, When a copy runs through the thread, Then it runs no faster than the rate (the thread stops reading while the puller waits)', async () => {
    await expectPullPacedByReceiveThrottle(dst.client, 512 * 1024, () => dst.client.pull(1, {moveId: 'm1t', epoch: 5, sources: [sourceAt(src.client.address)], rate: null, frameBytes: 64 * 1024}))
  })

  it('Given a source at a newer epoch, When the stream is opened, Then the refusal is a NodeRequestError STALE_EPOCH with its nodeEpoch, and the copy fails naming the source', async () => {
    src.map.shard = {...src.map.shard, epoch: 6}
    try {
      const err = await thrown(receiver.openFrames(sourceAt(src.client.address), 1, 5, undefined, 64 * 1024, new AbortController().signal))
      expect(err).toBeInstanceOf(NodeRequestError)
      expect(err).toMatchObject({code: 'STALE_EPOCH', nodeEpoch: 6, status: 409, node: 'src', timedOut: false})
      await dst.client.pull(1, {moveId: 'm2', epoch: 5, sources: [sourceAt(src.client.address)], rate: null, frameBytes: 64 * 1024})
      expect(await settledPull(dst.client)).toMatchObject({state: 'failed', failedSource: 'src', errorCode: 'STALE_EPOCH'})
    } finally {
      src.map.shard = {...src.map.shard, epoch: 5}
    }
  })

  it('Given a source that cuts its stream mid-frame, Then NODE_UNREACHABLE reaches the puller and the copy fails naming the source', async () => {
    const cut = await fakeSource((_req, res) => {
      res.writeHead(200, streamHead)
      const frame = frameOf('c', 50, 1000, 'x1')
      res.write(frame.subarray(0, frame.length - 100), () => res.socket?.destroy())
    })
    const err = await thrown(receiver.openFrames(sourceAt(cut.address, 'cut'), 1, 5, undefined, 64 * 1024, new AbortController().signal))
    expect(err).toBeInstanceOf(NodeRequestError)
    expect(err).toMatchObject({code: 'NODE_UNREACHABLE', node: 'cut', timedOut: false})
    await dst.client.pull(1, {moveId: 'm3', epoch: 5, sources: [sourceAt(cut.address, 'cut')], rate: null, frameBytes: 64 * 1024})
    expect(await settledPull(dst.client)).toMatchObject({state: 'failed', failedSource: 'cut', errorCode: 'NODE_UNREACHABLE'})
  })

  it('Given a source that goes silent mid-stream, Then NODE_UNREACHABLE with timedOut set; a malformed stream is a CopyFrameError', async () => {
    const silent = await fakeSource((_req, res) => {
      res.writeHead(200, streamHead)
      res.write(frameOf('s', 5, 100, 's1'))
    })
    const err = await thrown(receiver.openFrames(sourceAt(silent.address, 'silent'), 1, 5, undefined, 64 * 1024, new AbortController().signal))
    expect(err).toBeInstanceOf(NodeRequestError)
    expect(err).toMatchObject({code: 'NODE_UNREACHABLE', timedOut: true})
    const bad = await fakeSource((_req, res) => {
      res.writeHead(200, streamHead)
      const f = frameOf('b', 1, 10, 'b1')
      f.writeUInt8(0x80, 6) // an unknown flag
      res.end(f)
    })
    const frameErr = await thrown(receiver.openFrames(sourceAt(bad.address, 'bad'), 1, 5, undefined, 64 * 1024, new AbortController().signal))
    expect(frameErr).toBeInstanceOf(CopyFrameError)
    expect((frameErr as Error).message).toMatch(/unknown flags/)
  })

  it('Given a stream being read, When its signal aborts, Then the thread stops its request (the source sees the connection close) and nothing stays open', async () => {
    let timer: NodeJS.Timeout | undefined
    const endless = await fakeSource((_req, res) => {
      res.writeHead(200, streamHead)
      let i = 0
      timer = setInterval(() => res.write(frameOf(`e${i}-`, 5, 100, `e${i++}`)), 20)
      res.on('close', () => clearInterval(timer))
    })
    const abort = new AbortController()
    const seen: CopyFrame[] = []
    const reading = (async () => {
      for await (const f of receiver.openFrames(sourceAt(endless.address, 'endless'), 1, 5, undefined, 64 * 1024, abort.signal)) {
        seen.push(f)
        if (seen.length === 3) abort.abort()
      }
    })()
    await reading
    expect(seen.length).toBe(3)
    expect(receiver.openStreams()).toBe(0)
    await expect.poll(() => endless.closed(), {timeout: 3000}).toBe(1)
    clearInterval(timer)
  })

  it('Given a main thread that takes no frame, Then the thread holds back: at most 2 frames wait here and the source is pushed back on over TCP', async () => {
    const frames = 48
    let written = 0
    const fast = await fakeSource((_req, res) => {
      res.writeHead(200, streamHead)
      let i = 0
      const more = () => {
        while (i < frames) {
          const f = frameOf(`f${i}-`, 16, 64 * 1024 - 64, i === frames - 1 ? undefined : `f${i}`, i === frames - 1)
          i++
          written += f.length
          if (!res.write(f)) return void res.once('drain', more)
        }
        res.end()
      }
      more()
    })
    const it = receiver.openFrames(sourceAt(fast.address, 'fast'), 1, 5, undefined, 1024 * 1024, new AbortController().signal)[Symbol.asyncIterator]()
    const first = await it.next()
    expect(first.done).toBe(false)
    await new Promise((r) => setTimeout(r, 1000))
    const queued = (receiver as unknown as {streams: Map<number, {frames: CopyFrame[]}>}).streams
    const waiting = [...queued.values()].reduce((n, s) => n + s.frames.length, 0)
    expect(waiting).toBeLessThanOrEqual(2)
    // 48 MiB offered; what left the source is the frames taken and waiting, the one the thread fills, and socket and stream buffers.
    expect(written).toBeLessThan(24 * 1024 * 1024)
    let n = 1
    for (let r = await it.next(); !r.done; r = await it.next()) n++
    expect(n).toBe(frames)
  })

  it('Given the thread dies mid-stream, Then the open stream fails as this node\'s fault (no failedSource), and the next stream starts a new thread', async () => {
    let timer: NodeJS.Timeout | undefined
    const endless = await fakeSource((_req, res) => {
      res.writeHead(200, streamHead)
      let i = 0
      timer = setInterval(() => res.write(frameOf(`d${i}-`, 5, 100, `d${i++}`)), 20)
      res.on('close', () => clearInterval(timer))
    })
    await dst.client.pull(1, {moveId: 'm4', epoch: 5, sources: [sourceAt(endless.address, 'endless')], rate: null, frameBytes: 64 * 1024})
    // The thread's first start loads its module: seconds on a loaded 2-core runner.
    await expect.poll(async () => (await dst.client.pullStatus(1)).keys, {timeout: 15_000}).toBeGreaterThan(0)
    const worker = (receiver as unknown as {worker: Worker}).worker
    await worker.terminate()
    const s = await settledPull(dst.client)
    clearInterval(timer)
    expect(s).toMatchObject({state: 'failed', failedSource: null, errorCode: 'INTERNAL'})
    expect(s.error).toMatch(/copy receive thread exited/)
    // Read directly, the failure is a CopyReceiveThreadError; the stream after it runs on a new thread.
    const direct = receiver.openFrames(sourceAt(endless.address, 'endless'), 1, 5, undefined, 64 * 1024, new AbortController().signal)[Symbol.asyncIterator]()
    expect((await direct.next()).done).toBe(false)
    await (receiver as unknown as {worker: Worker}).worker.terminate()
    // Frames the thread posted before it died (at most 2 wait here) are still handed out, then the stream fails:
    // on a loaded runner one had arrived by the time of the kill, and the next read took it (CI, session 26).
    let failure: unknown
    for (let read = 0; read < 4 && failure === undefined; read++) failure = await direct.next().then((r) => (r.done ? 'ended' : undefined), (err: unknown) => err)
    expect(failure).toBeInstanceOf(CopyReceiveThreadError)
    clearInterval(timer)
    expect(await thrown(receiver.openFrames(sourceAt(src.client.address), 1, 5, undefined, 64 * 1024, new AbortController().signal))).toBeUndefined()
  })
})
