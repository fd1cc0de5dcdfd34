import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, describe, expect, it, vi} from 'vitest'
import {HASH_SPACE} from '../../src/model/hash.js'
import {formatHlc} from '../../src/model/hlc.js'
import {type HashRange} from '../../src/model/range.js'
import {encodeFrame} from '../../src/node/copyFrames.js'
import {CopyPuller, type PullSpec} from '../../src/node/copyPuller.js'
import {jsonLog} from '../../src/log/jsonLog.js'
import {encodeRecords} from '../../src/node/recordCodec.js'
import {StorageEngine} from '../../src/node/storageEngine.js'
import {TokenBucket} from '../../src/throttle/tokenBucket.js'

/**
 * Adversarial timing for frames received into reused slabs (copyFrameSlabs.ts): two copies at
 * once on one node through a pool of one slab, frames cut into several commits (a small slice),
 * chunks split at random points, and copies cancelled and resumed from their cursor while a
 * frame commits. Every record must arrive as the source holds it and every slab be free after.
 */

const ALL: HashRange = {lo: 0, hi: HASH_SPACE}
const HALF = Math.floor(HASH_SPACE / 2)
const RANGES: Record<number, HashRange> = {1: {lo: 0, hi: HALF}, 2: {lo: HALF, hi: HASH_SPACE}}
const dirs: string[] = []
const engines: StorageEngine[] = []
const log = jsonLog({}, () => {})

function engineAt(writerThread: boolean): StorageEngine {
  const dir = mkdtempSync(join(tmpdir(), 'shardctl-slabstress-'))
  dirs.push(dir)
  const engine = StorageEngine.open({dir, tombstoneGraceMs: 3_600_000, synchronous: 'NORMAL', writerThread})
  engines.push(engine)
  return engine
}

afterEach(async () => {
  for (const e of engines.splice(0)) await e.close()
  for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
})

/** rng is a small seeded generator, so a failure repeats. */
function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

async function settled(p: CopyPuller, shard: number): Promise<ReturnType<CopyPuller['status']>> {
  for (let i = 0; i < 3000; i++) {
    const s = p.status(shard)
    if (s.state !== 'running') return s
    await new Promise((r) => setTimeout(r, 5))
  }
  throw new Error(`copy of shard ${shard} did not settle`)
}

describe('frame slabs under adversarial timing', {timeout: 60_000}, () => {
  const cases = [
    {writerThread: true, sliceBytes: 4 * 1024},
    {writerThread: false, sliceBytes: 4 * 1024},
    {writerThread: true, sliceBytes: undefined},
  ]
  for (const {writerThread, sliceBytes} of cases) {
    const frames = sliceBytes ? 'frames of several slices' : 'frames handed to the writer by slab index'
    it(`Given one slab, two copies at once, ${frames}, random chunking and copies cancelled and resumed (writer thread ${writerThread}), Then the destination equals the source and the slab is free`, async () => {
      const src = engineAt(false)
      const dst = engineAt(writerThread)
      const rand = rng(writerThread ? (sliceBytes ? 7 : 5) : 11)
      // Values of distinct bytes of many sizes: a record read from a reused slab's later bytes changes the digest.
      await src.apply(Array.from({length: 1200}, (_, i) => {
        const value = Buffer.alloc(200 + ((i * 997) % 3000))
        for (let j = 0; j < value.length; j += 4) value.writeUInt32LE((i * 2654435761 + j) >>> 0, Math.min(j, value.length - 4))
        return {key: Buffer.from(`key-${i}`), version: formatHlc({wall: 1_000_000 + i, counter: 0, writer: 'w'}), value: i % 13 === 0 ? null : value}
      }))
      const slabs = dst.copyFrameSlabs(1, 64 * 1024)!
      const taken = vi.spyOn(slabs, 'take')
      const byIndex = vi.spyOn(slabs, 'indexOf')
      const puller = new CopyPuller({
        engine: dst,
        async *openStream(_s, shard, _epoch, cursor, frameBytes, signal) {
          let at = cursor
          for (;;) {
            if (signal.aborted) return
            const page = src.scan(RANGES[shard]!, at, frameBytes)
            const last = page.cursor === undefined
            const wire = encodeFrame(encodeRecords(page.records), page.cursor, last)
            // Random cuts: several frames in one chunk, a frame over several chunks.
            let o = 0
            while (o < wire.length) {
              const n = 1 + Math.floor(rand() * wire.length)
              yield wire.subarray(o, o + n)
              o += n
              if (rand() < 0.5) await new Promise((r) => setImmediate(r))
            }
            if (last) return
            at = page.cursor
          }
        },
        fence: async (shard) => RANGES[shard]!,
        receive: new TokenBucket(null, Date.now),
        now: Date.now,
        sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
        log,
        // 16 KiB frames committed in slices of 4 KiB: one frame, several commits, one slab held across them (else one commit, the writer reading the slab).
        ...(sliceBytes ? {sliceBytes} : {}),
      })
      const spec = (shard: number, moveId: string): PullSpec => ({moveId, shard, epoch: 3, sources: [{node: 'a', address: '127.0.0.1:1'}], rate: null, frameBytes: 16 * 1024})
      for (const shard of [1, 2]) puller.pull(spec(shard, 'm'))
      // Cancel and resume each copy a few times while frames commit (resumed from the cursor stored with the last commit).
      for (let round = 0; round < 6; round++) {
        await new Promise((r) => setTimeout(r, 1 + Math.floor(rand() * 20)))
        const shard = 1 + (round % 2)
        await puller.cancel(shard)
        puller.pull(spec(shard, 'm'))
      }
      for (const shard of [1, 2]) {
        const s = await settled(puller, shard)
        expect(s.error).toBeNull()
        expect(s.state).toBe('done')
      }
      await puller.close()
      expect(dst.digest(ALL)).toEqual(src.digest(ALL))
      // Read from the rows themselves (the digest cache is filled from the same bytes the writer bound).
      expect(dst.oldValuesDigest(ALL, 9e14)).toEqual(src.oldValuesDigest(ALL, 9e14))
      // Frames were received into the slab (each then committed in several slices from it).
      expect(taken.mock.results.filter((r) => r.value !== undefined).length).toBeGreaterThan(5)
      if (!sliceBytes) expect(byIndex.mock.results.filter((r) => (r.value as number) >= 0).length).toBeGreaterThan(5)
      expect(slabs.available()).toBe(1)
    })
  }
})

describe('frame slabs through the copy receive thread under cancels, resumes and a dying thread', {timeout: 60_000}, () => {
  it('Given two slabs, When a copy is cancelled and resumed while frames commit and the receive thread is killed mid-copy, Then the destination equals the source and the copy completes (the slab the dead thread held falls back to buffers of their own)', async () => {
    const TOKEN = 'unit-test-token-0123456789'
    const {CopyReceiver} = await import('../../src/node/copyReceiver.js')
    const {NodeThrottles} = await import('../../src/node/nodeThrottles.js')
    const {CopyShardMap, settledPull} = await import('../support/copyShard.js')
    const {startInProcessNode} = await import('../support/inProcessNode.js')
    const closers: (() => Promise<void>)[] = []
    try {
      const src = await startInProcessNode({nodeId: 'src', map: new CopyShardMap('src'), token: TOKEN, tombstoneGraceMs: 3_600_000, timeoutMs: 5000, dirPrefix: 'shardctl-slabstress-src-', copy: {peer: () => {
        throw new Error('the source pulls nothing')
      }, throttles: new NodeThrottles(Date.now)}})
      closers.push(() => src.close())
      await src.engine.apply(Array.from({length: 1500}, (_, i) => {
        const value = Buffer.alloc(300 + ((i * 997) % 1500))
        for (let j = 0; j + 4 <= value.length; j += 4) value.writeUInt32LE((i * 2654435761 + j) >>> 0, j)
        return {key: Buffer.from(`k${i}`), version: formatHlc({wall: 1_000_000 + i, counter: 0, writer: 'w'}), value}
      }))
      let dstEngine: StorageEngine | undefined
      const receiver = new CopyReceiver({peers: () => ({token: TOKEN, timeoutMs: 5000, tls: undefined}), idleMs: 5000, slabs: () => dstEngine?.copyFrameSlabs()})
      closers.push(() => receiver.close())
      const dst = await startInProcessNode({nodeId: 'dst', map: new CopyShardMap('dst'), token: TOKEN, tombstoneGraceMs: 3_600_000, timeoutMs: 5000, dirPrefix: 'shardctl-slabstress-dst-', writerThread: true, copy: {peer: () => {
        throw new Error('not on the main thread')
      }, frames: receiver, throttles: new NodeThrottles(Date.now)}})
      closers.push(() => dst.close())
      dstEngine = dst.engine
      const slabs = dst.engine.copyFrameSlabs(2, 64 * 1024)!
      const hits = {n: 0}
      const idx = slabs.indexOf.bind(slabs)
      slabs.indexOf = (b) => {
        const i = idx(b)
        if (i >= 0) hits.n++
        return i
      }
      const rand = rng(3)
      const pull = () => dst.client.pull(1, {moveId: 'm', epoch: 5, sources: [{node: 'src', address: src.client.address}], rate: null, frameBytes: 16 * 1024})
      await pull()
      for (let round = 0; round < 8; round++) {
        await new Promise((r) => setTimeout(r, Math.floor(rand() * 15)))
        if (round === 4) {
          // The thread dies mid-stream: the copy fails (the thread's fault) and is asked again.
          const w = (receiver as unknown as {worker?: {terminate(): Promise<number>}}).worker
          await w?.terminate()
        } else await dst.client.cancelPull(1)
        await new Promise((r) => setTimeout(r, 5))
        await pull()
      }
      let status = await settledPull(dst.client, 1, 30_000)
      for (let i = 0; i < 3 && status.state !== 'done'; i++) {
        await pull()
        status = await settledPull(dst.client, 1, 30_000)
      }
      expect(status.error ?? null).toBeNull()
      expect(status.state).toBe('done')
      expect(dst.engine.digest(ALL)).toEqual(src.engine.digest(ALL))
      expect(dst.engine.oldValuesDigest(ALL, 9e14)).toEqual(src.engine.oldValuesDigest(ALL, 9e14))
      // Frames went through the slab (a pool of one: most got buffers of their own meanwhile).
      expect(hits.n).toBeGreaterThan(0)
      // A slab the killed thread was filling stays taken (copyReceiver.ts: it costs that slab, not correctness): no count of free slabs is asserted.
    } finally {
      for (const close of closers.reverse()) await close().catch(() => undefined)
    }
  })
})
