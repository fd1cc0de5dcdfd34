import {afterEach, describe, expect, it} from 'vitest'
import {type Worker} from 'node:worker_threads'
import {FrameSlabs} from '../../src/node/copyFrameSlabs.js'
import {type CopyFrame} from '../../src/node/copyFrames.js'
import {CopyReceiver} from '../../src/node/copyReceiver.js'
import {CopyReceiveThreadError} from '../../src/node/copyReceiveProtocol.js'
import {formatHlc} from '../../src/model/hlc.js'
import {NodeThrottles} from '../../src/node/nodeThrottles.js'
import {CopyShardMap} from '../support/copyShard.js'
import {type InProcessNode, startInProcessNode} from '../support/inProcessNode.js'

/**
 * The copy receive thread takes a frame slab for a frame when its first bytes come in and
 * holds the frames of a chunk it cannot post yet (no credit). If the thread dies (a crash, an
 * out-of-memory, a terminate), nobody frees those slabs: until session 39 they stayed taken
 * for the node's life, each lost slab one fewer for every later copy (with all ten gone,
 * every frame a fresh buffer again, the page faults and GC pressure the slabs exist to
 * avoid). Now the slabs the dead thread held are freed at its exit, and a frame it posted
 * just before (delivered after) is dropped instead of freeing a slab twice.
 *
 * Can fail: before the fix the pool below ended with slabs still taken after the thread
 * died and every frame the main thread held was freed ("free 7 of 8").
 */

const TOKEN = 'unit-test-token-0123456789'
const closers: (() => Promise<void>)[] = []

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined)
})

function recordsOf(n: number, size: number) {
  return Array.from({length: n}, (_, i) => ({key: Buffer.from(`k${i}`), version: formatHlc({wall: 1_000_000 + i, counter: 0, writer: 'w'}), value: Buffer.alloc(size, i % 251)}))
}

async function until(what: string, done: () => boolean): Promise<void> {
  for (const end = Date.now() + 10_000; !done(); await new Promise((r) => setTimeout(r, 10))) {
    if (Date.now() > end) throw new Error(`${what}: not within 10 s`)
  }
}

describe('CopyReceiver: the frame slabs of a receive thread that died', () => {
  it('Given a stream whose consumer took one frame and holds it, the thread holding more frames in slabs for want of credit, When the thread dies, Then the stream fails with CopyReceiveThreadError and, once the main thread freed its frames, every slab is free again', async () => {
    const src: InProcessNode = await startInProcessNode({nodeId: 'src', map: new CopyShardMap('src'), token: TOKEN, tombstoneGraceMs: 3_600_000, timeoutMs: 5000, dirPrefix: 'shardctl-recvdeath-src-', copy: {peer: () => {
      throw new Error('the source pulls nothing')
    }, throttles: new NodeThrottles(Date.now)}})
    closers.push(() => src.close())
    await src.engine.apply(recordsOf(400, 1000))
    const slabs = FrameSlabs.create(8, 32 * 1024)
    const receiver = new CopyReceiver({peers: () => ({token: TOKEN, timeoutMs: 5000, tls: undefined}), idleMs: 5000, slabs: () => slabs})
    closers.push(() => receiver.close())
    const internals = receiver as unknown as {worker: Worker | undefined; streams: Map<number, {frames: CopyFrame[]}>}

    const abort = new AbortController()
    const frames = receiver.openFrames({node: 'src', address: src.client.address}, 1, 5, undefined, 4 * 1024, abort.signal)
    const first = (await frames.next()).value as CopyFrame
    expect(first.slab).toBeDefined()
    // The thread posts its credit's worth and then holds the rest of the chunk it read (and a frame being filled).
    const onMain = () => 1 + [...internals.streams.values()].reduce((n, s) => n + s.frames.length, 0)
    let last = -1
    await until('the thread stopped taking slabs', () => {
      const now = slabs.available()
      const stable = now === last
      last = now
      return stable && onMain() === 3
    })
    // The premise: the thread holds slabs the main thread was never told of.
    expect(8 - slabs.available() - onMain()).toBeGreaterThan(0)

    await internals.worker!.terminate()
    first.release?.()
    // The frames posted before the death are still handed out (and freed here), then the stream fails.
    let failure: unknown
    try {
      for (let r = await frames.next(); !r.done; r = await frames.next()) r.value.release?.()
    } catch (err) {
      failure = err
    }
    expect(failure).toBeInstanceOf(CopyReceiveThreadError)
    expect(`free ${slabs.available()} of 8`).toBe('free 8 of 8')
  }, 30_000)
})
