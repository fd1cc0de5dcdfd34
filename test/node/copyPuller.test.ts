import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {TokenBucket} from '../../src/throttle/tokenBucket.js'
import {HASH_SPACE} from '../../src/model/hash.js'
import {formatHlc} from '../../src/model/hlc.js'
import {type HashRange} from '../../src/model/range.js'
import {encodeFrame} from '../../src/node/copyFrames.js'
import {expectedCopyBytes} from '../../src/executor/copyTarget.js'
import {type CopySourceAddress, CopyPuller, type PullSpec} from '../../src/node/copyPuller.js'
import {jsonLog} from '../../src/log/jsonLog.js'
import {type GcFloor} from '../../src/node/lwwSql.js'
import {type DigestResponse, type NodeRecord} from '../../src/node/protocol.js'
import {encodeRecords} from '../../src/node/recordCodec.js'
import {StorageEngine} from '../../src/node/storageEngine.js'
import {StreamPaces} from '../../src/node/streamPaces.js'
import {versionWall} from '../../src/node/lwwMerge.js'
import {initialCutoff} from '../../src/repair/agreedCutoff.js'
import {differingBuckets} from '../../src/repair/repairPlan.js'

const ALL: HashRange = {lo: 0, hi: HASH_SPACE}
const dirs: string[] = []
const engines: StorageEngine[] = []
const log = jsonLog({}, () => {})

function engineAt(dir = mkdtempSync(join(tmpdir(), 'shardctl-puller-'))): {engine: StorageEngine; dir: string} {
  if (!dirs.includes(dir)) dirs.push(dir)
  const engine = StorageEngine.open({dir, tombstoneGraceMs: 3_600_000, synchronous: 'NORMAL'})
  engines.push(engine)
  return {engine, dir}
}

afterEach(async () => {
  for (const e of engines.splice(0)) await e.close()
  for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
})

const v = (wall: number, counter = 0) => formatHlc({wall, counter, writer: 'w'})
const versionWallOf = (r: NodeRecord) => versionWall(r.version)
const rec = (key: string, version: string, value: string | null): NodeRecord => ({key: Buffer.from(key), version, value: value === null ? null : Buffer.from(value)})

async function fill(engine: StorageEngine, n: number, wall = 1_000_000): Promise<void> {
  const records = Array.from({length: n}, (_, i) => rec(`key-${i}`, v(wall, i), i % 17 === 0 ? null : `value-${i}-${'x'.repeat(100)}`))
  await engine.apply(records)
}

/**
 * FakeSources serve copy frames straight from source engines (the same scan and framing as
 * the node's stream handler), and can cut a stream after some frames, as a source that
 * dies mid-stream does. `opened` records each stream's source and start cursor.
 */
class FakeSources {
  readonly opened: {node: string; cursor: string | undefined}[] = []
  cutAfter: number | undefined
  /** floors: the sources send their gc floors (GC_FLOORS_HEADER) as a node of this build does; false: as an older build, none; a list: these instead (a corrupt header). */
  floors: boolean | GcFloor[] = true

  constructor(private readonly engines: Record<string, StorageEngine>) {}

  async *open(source: CopySourceAddress, _shard: number, _epoch: number, cursor: string | undefined, frameBytes: number, signal: AbortSignal, onGcFloors?: (floors: GcFloor[] | undefined) => void): AsyncGenerator<Buffer> {
    this.opened.push({node: source.node, cursor})
    const engine = this.engines[source.node]
    if (!engine) throw Object.assign(new Error(`node ${source.node}: ECONNREFUSED`), {code: 'NODE_UNREACHABLE'})
    onGcFloors?.(Array.isArray(this.floors) ? this.floors : this.floors ? engine.floorsOver(ALL) : undefined)
    let at = cursor
    for (let frames = 0; ; frames++) {
      if (signal.aborted) return
      if (this.cutAfter !== undefined && frames >= this.cutAfter) throw Object.assign(new Error(`node ${source.node}: copy stream broke: ECONNRESET`), {code: 'NODE_UNREACHABLE'})
      const page = engine.scan(ALL, at, frameBytes)
      const last = page.cursor === undefined
      const wire = encodeFrame(encodeRecords(page.records), page.cursor, last)
      // Deliver in two pieces: frames need not arrive whole.
      yield wire.subarray(0, 5)
      yield wire.subarray(5)
      if (last) return
      at = page.cursor
      await new Promise((r) => setImmediate(r))
    }
  }
}

function puller(dest: StorageEngine, sources: FakeSources, over: Partial<ConstructorParameters<typeof CopyPuller>[0]> = {}): CopyPuller {
  return new CopyPuller({
    engine: dest,
    openStream: (s, shard, epoch, cursor, frameBytes, signal, _pace, onGcFloors) => sources.open(s, shard, epoch, cursor, frameBytes, signal, onGcFloors),
    fence: async () => ALL,
    receive: new TokenBucket(null, Date.now),
    now: Date.now,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    log,
    ...over,
  })
}

const spec = (over: Partial<PullSpec> = {}): PullSpec => ({moveId: 'm1', shard: 1, epoch: 3, sources: [{node: 'a', address: '127.0.0.1:1'}], rate: null, frameBytes: 16 * 1024, ...over})

/** releaseWhileRunning lets the gated engine commit one held call at a time until the pull stops running (bounded). */
async function releaseWhileRunning(p: CopyPuller, g: {pending(): number; release(): void}): Promise<void> {
  for (let i = 0; i < 10_000 && p.status(1).state === 'running'; i++) {
    if (g.pending() > 0) g.release()
    await new Promise((r) => setTimeout(r, 1))
  }
}

async function settle(p: CopyPuller, shard = 1): Promise<ReturnType<CopyPuller['status']>> {
  for (let i = 0; i < 2000; i++) {
    const s = p.status(shard)
    if (s.state !== 'running') return s
    await new Promise((r) => setTimeout(r, 5))
  }
  throw new Error('copy did not settle in 10 s')
}

describe('CopyPuller', {timeout: 30_000}, () => {
  it('given a source, when pulled, then the destination holds exactly its records (digests equal) and reports bytes and keys', async () => {
    const a = engineAt().engine
    await fill(a, 2000)
    const dest = engineAt().engine
    const p = puller(dest, new FakeSources({a}))
    expect(p.pull(spec()).state).toBe('running')
    const s = await settle(p)
    expect(s).toMatchObject({state: 'done', keys: 2000, error: null, cursor: null})
    expect(s.bytes).toBeGreaterThan(2000 * 100)
    expect(dest.digest(ALL)).toEqual(a.digest(ALL))
    // Asking again for a finished copy does nothing and stays done.
    expect(p.pull(spec()).state).toBe('done')
  })

  it('given an empty source, when pulled, then it reports 0 data bytes and 0 keys, and the stream\'s 4 bytes apart (it said "copied 4 B (0 keys)")', async () => {
    const empty = engineAt().engine
    const p = puller(engineAt().engine, new FakeSources({a: empty}))
    p.pull(spec())
    expect(await settle(p)).toMatchObject({state: 'done', dataBytes: 0, keys: 0, bytes: 4})
  })

  it('given a source, when pulled, then its data bytes are the key and value bytes the source\'s range totals count, and the stream\'s bytes (versions, framing) more', async () => {
    const a = engineAt().engine
    await fill(a, 300)
    const p = puller(engineAt().engine, new FakeSources({a}))
    p.pull(spec())
    const s = await settle(p)
    expect(s.dataBytes).toBe(a.rangeTotals(ALL).bytes)
    expect(s.bytes).toBeGreaterThan(s.dataBytes)
  })

  it('keeps the newer of a concurrent write and the copied record (LWW), and copies tombstones', async () => {
    const a = engineAt().engine
    await a.apply([rec('k1', v(10), 'old'), rec('k2', v(10), 'copied'), rec('k3', v(10), null)])
    const dest = engineAt().engine
    await dest.apply([rec('k1', v(20), 'written during the move'), rec('k2', v(5), 'older')])
    const p = puller(dest, new FakeSources({a}))
    p.pull(spec())
    expect((await settle(p)).state).toBe('done')
    expect(dest.get(Buffer.from('k1'))?.value?.toString()).toBe('written during the move')
    expect(dest.get(Buffer.from('k2'))?.value?.toString()).toBe('copied')
    expect(dest.get(Buffer.from('k3'))).toMatchObject({value: null, version: v(10)})
  })

  it('given a source that dies mid-stream, then it reports that source, and asking again resumes from the durable cursor, not the start', async () => {
    const a = engineAt().engine
    await fill(a, 2000)
    const dest = engineAt().engine
    const sources = new FakeSources({a})
    sources.cutAfter = 3
    const p = puller(dest, sources)
    p.pull(spec())
    const failed = await settle(p)
    expect(failed).toMatchObject({state: 'failed', failedSource: 'a', errorCode: 'NODE_UNREACHABLE'})
    expect(failed.cursor).not.toBeNull()
    expect(failed.keys).toBeGreaterThan(0)
    expect(failed.keys).toBeLessThan(2000)
    sources.cutAfter = undefined
    p.pull(spec())
    const done = await settle(p)
    expect(done.state).toBe('done')
    expect(sources.opened.map((o) => o.cursor)).toEqual([undefined, failed.cursor])
    // Keys are counted once: the resumed stream started after what was applied.
    expect(done.keys).toBe(2000)
    expect(dest.digest(ALL)).toEqual(a.digest(ALL))
  })

  it('given a destination restart mid-copy, then a new puller on the same data resumes from the persisted cursor', async () => {
    const a = engineAt().engine
    await fill(a, 1500)
    const d = engineAt()
    const sources = new FakeSources({a})
    sources.cutAfter = 4
    const first = puller(d.engine, sources)
    first.pull(spec())
    const cut = await settle(first)
    await first.close()
    await d.engine.close()
    const reopened = engineAt(d.dir).engine
    sources.cutAfter = undefined
    const second = puller(reopened, sources)
    expect(second.status(1)).toMatchObject({state: 'idle', moveId: 'm1', cursor: cut.cursor, keys: cut.keys})
    second.pull(spec())
    expect((await settle(second)).state).toBe('done')
    expect(sources.opened.at(-1)!.cursor).toBe(cut.cursor)
    expect(reopened.digest(ALL)).toEqual(a.digest(ALL))
    // Nothing counted twice: the resumed stream starts after what was applied, and the bytes before the restart were stored with it.
    expect(second.status(1)).toMatchObject({dataBytes: a.rangeTotals(ALL).bytes, keys: 1500, passes: 1, carriedDataBytes: 0, prefixDataBytes: 0})
    // A restart after the copy finished still reports it done.
    await reopened.close()
    expect(puller(engineAt(d.dir).engine, sources).status(1).state).toBe('done')
  })

  it('given the source down, when other replicas are named, then each is read from the single-source cursor on, and a different move starts over', async () => {
    const a = engineAt().engine
    await fill(a, 1200)
    const b = engineAt().engine
    const c = engineAt().engine
    await fill(b, 1200)
    await fill(c, 1200)
    await c.apply([rec('key-7', v(2_000_000), 'newest on c')])
    const dest = engineAt().engine
    const sources = new FakeSources({a, b, c})
    sources.cutAfter = 2
    const p = puller(dest, sources)
    p.pull(spec())
    const cut = await settle(p)
    sources.cutAfter = undefined
    p.pull(spec({sources: [{node: 'b', address: '127.0.0.1:2'}, {node: 'c', address: '127.0.0.1:3'}]}))
    expect((await settle(p)).state).toBe('done')
    expect(sources.opened.slice(1)).toEqual([
      {node: 'b', cursor: cut.cursor},
      {node: 'c', cursor: cut.cursor},
    ])
    expect(dest.get(Buffer.from('key-7'))?.value?.toString()).toBe('newest on c')
    p.pull(spec({moveId: 'm2'}))
    await settle(p)
    expect(sources.opened.at(-1)).toEqual({node: 'a', cursor: undefined})
  })

  // Session 26 saw a heal move report 71,936 bytes copied of a 35,959-byte shard: its source
  // was dead, so it merged the two live replicas, reading each whole. The status now says how
  // the copy reads the range, so the executor's goal (expectedCopyBytes) is what it applies.
  it('given two sources read whole (a heal whose source is down), then the data bytes run to twice the shard\'s, and the status says two passes, so the goal is what was applied', async () => {
    const b = engineAt().engine
    const c = engineAt().engine
    await fill(b, 600)
    await fill(c, 600)
    const shardBytes = b.rangeTotals(ALL).bytes
    const p = puller(engineAt().engine, new FakeSources({b, c}))
    p.pull(spec({sources: [{node: 'b', address: '127.0.0.1:2'}, {node: 'c', address: '127.0.0.1:3'}]}))
    const s = await settle(p)
    expect(s).toMatchObject({state: 'done', dataBytes: 2 * shardBytes, passes: 2, carriedDataBytes: 0, prefixDataBytes: 0})
    expect(expectedCopyBytes(shardBytes, s)).toBe(s.dataBytes)
  })

  it('given a source cut mid-copy and replaced by two replicas read from its cursor, then the bytes applied before are carried and the prefix counted once, so the goal is what was applied', async () => {
    const {shardBytes, sources, p} = await threeReplicasCutAfter(2)
    p.pull(spec())
    const cut = await settle(p)
    expect(cut).toMatchObject({state: 'failed', passes: 1, carriedDataBytes: 0, prefixDataBytes: 0})
    expect(cut.dataBytes).toBeGreaterThan(0)
    expect(cut.dataBytes).toBeLessThan(shardBytes)
    sources.cutAfter = undefined
    p.pull(spec({sources: [{node: 'b', address: '127.0.0.1:2'}, {node: 'c', address: '127.0.0.1:3'}]}))
    const s = await settle(p)
    expect(s).toMatchObject({state: 'done', passes: 2, carriedDataBytes: cut.dataBytes, prefixDataBytes: cut.dataBytes})
    // a's prefix once, then the rest from b and from c.
    expect(s.dataBytes).toBe(cut.dataBytes + 2 * (shardBytes - cut.dataBytes))
    expect(expectedCopyBytes(shardBytes, s)).toBe(s.dataBytes)
  })

  it('given two replicas cut mid-copy and the source back instead, then what they applied is carried and the range is read again from its start, so the goal is what was applied', async () => {
    const {shardBytes, sources, p} = await threeReplicasCutAfter(2)
    p.pull(spec({sources: [{node: 'b', address: '127.0.0.1:2'}, {node: 'c', address: '127.0.0.1:3'}]}))
    const cut = await settle(p)
    expect(cut).toMatchObject({state: 'failed', failedSource: 'b', passes: 2})
    sources.cutAfter = undefined
    p.pull(spec())
    const s = await settle(p)
    // A multi-source prefix is complete only where all its sources started (the beginning): a reads it all.
    expect(sources.opened.at(-1)).toEqual({node: 'a', cursor: undefined})
    expect(s).toMatchObject({state: 'done', passes: 1, carriedDataBytes: cut.dataBytes, prefixDataBytes: 0, dataBytes: cut.dataBytes + shardBytes})
    expect(expectedCopyBytes(shardBytes, s)).toBe(s.dataBytes)
  })

  it('stops at a lost fence without applying the frame, blaming no source', async () => {
    const a = engineAt().engine
    await fill(a, 1000)
    const dest = engineAt().engine
    let frames = 0
    const p = puller(dest, new FakeSources({a}), {
      fence: async () => {
        if (++frames > 4) throw Object.assign(new Error('shard 1 is at epoch 4; the request carried 3'), {code: 'STALE_EPOCH'})
        return ALL
      },
    })
    p.pull(spec())
    const s = await settle(p)
    expect(s).toMatchObject({state: 'failed', failedSource: null, errorCode: 'STALE_EPOCH'})
    // Two fence checks per frame (before and after the throttle): two frames applied.
    expect(s.keys).toBe(dest.totals().keys)
    expect(s.keys).toBeLessThan(1000)
  })

  it('spends every frame at the move rate: the waits add up to bytes / rate (the bucket starts empty: no free burst)', async () => {
    const a = engineAt().engine
    await fill(a, 3000)
    const dest = engineAt().engine
    let t = 0
    const p = puller(dest, new FakeSources({a}), {
      now: () => t,
      sleep: async (ms) => {
        t += ms
      },
    })
    const rate = 64 * 1024
    p.pull(spec({rate}))
    const s = await settle(p)
    expect(s.state).toBe('done')
    const expected = (s.bytes / rate) * 1000
    // Rounding: each wait is rounded up to a whole ms.
    expect(t).toBeGreaterThanOrEqual(expected - 1)
    expect(t).toBeLessThanOrEqual(expected + 50)
  })

  it('opens each stream asking the source to pace it at the move rate, and tells the source every later rate change until it took it', async () => {
    const a = engineAt().engine
    await fill(a, 3000)
    const dest = engineAt().engine
    const sources = new FakeSources({a})
    const paces: unknown[] = []
    const told: {source: string; shard: number; move: string; rate: number | null; stream?: string}[] = []
    // The source answers "no stream open" to the first change (it raced the stream's open), then takes them.
    let answers = [0]
    let t = 0
    let releaseFrame: (() => void) | undefined
    let frames = 0
    const p = puller(dest, sources, {
      openStream: (s, shard, epoch, cursor, frameBytes, signal, pace) => {
        paces.push(pace)
        // One frame at a time, on the test's word: the rate changes land between frames.
        return (async function* () {
          for await (const chunk of sources.open(s, shard, epoch, cursor, frameBytes, signal)) {
            if (chunk.length === 5) {
              frames++
              await new Promise<void>((r) => (releaseFrame = r))
            }
            yield chunk
          }
        })()
      },
      setSourcePace: async (source, shard, pace) => {
        told.push({source: source.node, shard, ...pace})
        return answers.shift() ?? 1
      },
      now: () => t,
    })
    const step = async () => {
      for (let i = 0; i < 1000 && !releaseFrame; i++) await new Promise((r) => setTimeout(r, 1))
      const r = releaseFrame
      releaseFrame = undefined
      r?.()
      await new Promise((r) => setTimeout(r, 5))
    }
    p.pull(spec({rate: 1024 * 1024}))
    await step()
    expect(paces).toEqual([{move: 'm1', rate: 1024 * 1024, stream: expect.any(String)}])
    const stream = (paces[0] as {stream: string}).stream
    expect(told).toEqual([])
    // Re-rated by the executor: the source hears it at once; it had no stream open yet (0), so it is told again, but not before the retry delay.
    p.pull(spec({rate: 2 * 1024 * 1024}))
    await new Promise((r) => setTimeout(r, 5))
    expect(told).toEqual([{source: 'a', shard: 1, move: 'm1', rate: 2 * 1024 * 1024, stream}])
    await step()
    expect(told).toHaveLength(1)
    t += 1000
    await step()
    expect(told).toHaveLength(2)
    await step()
    await step()
    // Taken: no more requests while the rate stays; a change to unlimited is told once.
    expect(told).toHaveLength(2)
    p.pull(spec({rate: null}))
    await new Promise((r) => setTimeout(r, 5))
    await step()
    expect(told.map((x) => x.rate)).toEqual([2 * 1024 * 1024, 2 * 1024 * 1024, null])
    answers = []
    for (let i = 0; i < 10_000 && p.status(1).state === 'running'; i++) await step()
    expect(p.status(1).state).toBe('done')
    expect(frames).toBeGreaterThan(5)
    expect(told).toHaveLength(3)
  })

  it('counts a rate change as taken only when its own stream took it, not another stream of the move still open at the source (the one it replaces, winding down)', async () => {
    const a = engineAt().engine
    await fill(a, 3000)
    const dest = engineAt().engine
    const sources = new FakeSources({a})
    let t = 0
    // The source's paced streams: the stream a resume replaces is still there (its close not yet seen).
    const atSource = new StreamPaces(() => t)
    atSource.open(1, {move: 'm1', rate: 64 * 1024})
    let own: TokenBucket | undefined
    let registered: (() => void) | undefined
    let told = 0
    const p = puller(dest, sources, {
      openStream: (s, shard, epoch, cursor, frameBytes, signal, pace) =>
        (async function* () {
          // The stream's request is on its way: the source registers it only when the test says so.
          await new Promise<void>((r) => (registered = r))
          own = atSource.open(shard, pace!).bucket
          yield* sources.open(s, shard, epoch, cursor, frameBytes, signal)
        })(),
      setSourcePace: async (_s, shard, pace) => {
        told++
        return atSource.setRate(shard, pace.move, pace.rate, pace.stream)
      },
      now: () => t,
    })
    p.pull(spec({rate: 64 * 1024}))
    for (let i = 0; i < 1000 && !registered; i++) await new Promise((r) => setTimeout(r, 1))
    // Re-rated to unlimited while the stream opens: told at once, before the source has the stream.
    p.pull(spec({rate: null}))
    for (let i = 0; i < 1000 && told === 0; i++) await new Promise((r) => setTimeout(r, 1))
    await new Promise((r) => setTimeout(r, 5))
    t += 1000 // past the retry delay
    registered!()
    expect((await settle(p)).state).toBe('done')
    expect(own?.currentRate()).toBeNull()
  })

  it('stops telling a source that predates pacing (no such route: NOT_FOUND) and never fails the copy for it', async () => {
    const a = engineAt().engine
    await fill(a, 3000)
    const dest = engineAt().engine
    let calls = 0
    let t = 0
    const p = puller(dest, new FakeSources({a}), {
      setSourcePace: async () => {
        calls++
        t += 1000 // past any retry delay: only NOT_FOUND's rule can stop the next request
        throw Object.assign(new Error('no route POST /v1/shards/1/stream-rate'), {code: 'NOT_FOUND'})
      },
      now: () => t,
      sleep: async (ms) => {
        t += ms
      },
    })
    p.pull(spec({rate: 64 * 1024}))
    p.pull(spec({rate: 128 * 1024}))
    const s = await settle(p)
    expect(s.state).toBe('done')
    expect(calls).toBe(1)
  })

  it('never tells a source that predates pacing again, whatever the later rate changes (--throttle auto re-rates every second)', async () => {
    const a = engineAt().engine
    await fill(a, 3000)
    const dest = engineAt().engine
    let calls = 0
    let released: (() => void) | undefined
    const sources = new FakeSources({a})
    const p = puller(dest, sources, {
      openStream: (s, shard, epoch, cursor, frameBytes, signal) =>
        (async function* () {
          // Held after its first frame until the test has re-rated the copy twice.
          let n = 0
          for await (const chunk of sources.open(s, shard, epoch, cursor, frameBytes, signal)) {
            yield chunk
            if (++n === 2) await new Promise<void>((r) => (released = r))
          }
        })(),
      setSourcePace: async () => {
        calls++
        throw Object.assign(new Error('no route POST /v1/shards/1/stream-rate'), {code: 'NOT_FOUND'})
      },
    })
    p.pull(spec({rate: 64 * 1024 * 1024}))
    for (let i = 0; i < 1000 && !released; i++) await new Promise((r) => setTimeout(r, 1))
    p.pull(spec({rate: 32 * 1024 * 1024}))
    await new Promise((r) => setTimeout(r, 10))
    expect(calls).toBe(1)
    p.pull(spec({rate: 16 * 1024 * 1024}))
    await new Promise((r) => setTimeout(r, 10))
    released!()
    expect((await settle(p)).state).toBe('done')
    expect(calls).toBe(1)
  })

  it('forget cancels a running copy and deletes its state: the next pull of the same move starts over', async () => {
    const a = engineAt().engine
    await fill(a, 1000)
    const dest = engineAt().engine
    const sources = new FakeSources({a})
    sources.cutAfter = 2
    const p = puller(dest, sources)
    p.pull(spec())
    await settle(p)
    await p.forget(1)
    expect(p.status(1).state).toBe('idle')
    sources.cutAfter = undefined
    p.pull(spec())
    await settle(p)
    expect(sources.opened.at(-1)!.cursor).toBeUndefined()
  })

  /**
   * gatedEngine wraps `dest` so each applyCopyBatch waits for the test to release it, and
   * records what the puller handed over: the state stored with each frame, its durability,
   * how many commits overlapped, and how many frames the source had sent by then.
   */
  function gatedEngine(dest: StorageEngine, sent: () => number, failAt?: number) {
    const calls: {state: string; durable: boolean | undefined; sentAtCall: number; sentAtRelease?: number}[] = []
    const gates: (() => void)[] = []
    let inFlight = 0
    let maxInFlight = 0
    const engine = {
      metaValue: (n: string) => dest.metaValue(n),
      setMetaValue: (n: string, v: string | null) => dest.setMetaValue(n, v),
      adoptFloors: (range: HashRange, floors: readonly GcFloor[], drop?: boolean) => dest.adoptFloors(range, floors, drop),
      async applyCopyBatch(records: NodeRecord[], name: string, state: string, encoded?: Buffer, durable?: boolean) {
        const index = calls.length
        calls.push({state, durable, sentAtCall: sent()})
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        await new Promise<void>((r) =>
          gates.push(() => {
            calls[index]!.sentAtRelease = sent()
            r()
          }),
        )
        try {
          if (index === failAt) throw new Error('SQLITE_FULL: database or disk is full')
          return await dest.applyCopyBatch(records, name, state, encoded, durable)
        } finally {
          inFlight--
        }
      },
    }
    return {engine, calls, release: () => gates.shift()?.(), pending: () => gates.length, maxInFlight: () => maxInFlight}
  }

  it('receives the next frame while one commits, but commits one frame at a time, in stream order, and fsyncs only the frame that completes the copy', async () => {
    const a = engineAt().engine
    const b = engineAt().engine
    await fill(a, 600)
    await fill(b, 300, 2_000_000)
    const dest = engineAt().engine
    const sources = new FakeSources({a, b})
    let sent = 0
    const counting = {open: (...args: Parameters<FakeSources['open']>) => (async function* () {
      for await (const piece of sources.open(...args)) {
        sent++
        yield piece
      }
    })()}
    const g = gatedEngine(dest, () => sent)
    const p = puller(dest, sources, {engine: g.engine, openStream: (s, shard, epoch, cursor, frameBytes, signal) => counting.open(s, shard, epoch, cursor, frameBytes, signal)})
    p.pull(spec({sources: [{node: 'a', address: '127.0.0.1:1'}, {node: 'b', address: '127.0.0.1:2'}]}))
    for (let i = 0; i < 10_000 && p.status(1).state === 'running'; i++) {
      // While a frame is held in its commit, the stream moves on to the next frame (two pieces per frame).
      // Hold each commit a little, so the stream can move on meanwhile.
      if (g.pending() > 0) {
        await new Promise((r) => setTimeout(r, 5))
        g.release()
      } else await new Promise((r) => setTimeout(r, 1))
    }
    const s = await settle(p)
    expect(s).toMatchObject({state: 'done', keys: 900})
    expect(g.maxInFlight()).toBe(1)
    // While frames committed, the next frame's pieces arrived (a copy that waited for each commit before reading on would show none).
    expect(g.calls.filter((c) => (c.sentAtRelease ?? 0) > c.sentAtCall).length).toBeGreaterThan(g.calls.length / 2)
    // Stored states advance monotonically (keys only grow, the source index never goes back).
    const states = g.calls.map((c) => JSON.parse(c.state) as {keys: number; sourceIndex: number; done: boolean})
    for (let i = 1; i < states.length; i++) {
      expect(states[i]!.keys).toBeGreaterThan(states[i - 1]!.keys)
      expect(states[i]!.sourceIndex).toBeGreaterThanOrEqual(states[i - 1]!.sourceIndex)
    }
    // Only the last frame of the last source is durable; the last frame of source a is not.
    expect(g.calls.map((c) => c.durable)).toEqual([...Array(g.calls.length - 1).fill(false), true])
    expect(states.at(-1)!.done).toBe(true)
    expect(states.filter((x) => x.done)).toHaveLength(1)
  })

  it('given a frame whose commit fails, then no later frame is committed, the failure is the destination\'s, and a resume copies everything', async () => {
    const a = engineAt().engine
    await fill(a, 2000)
    const dest = engineAt().engine
    const sources = new FakeSources({a})
    const g = gatedEngine(dest, () => 0, 3)
    const p = puller(dest, sources, {engine: g.engine})
    p.pull(spec())
    await releaseWhileRunning(p, g)
    const failed = await settle(p)
    expect(failed).toMatchObject({state: 'failed', failedSource: null})
    expect(failed.error).toContain('SQLITE_FULL')
    // Frames 0..2 committed, frame 3 failed, and frame 4 was never handed to the writer.
    expect(g.calls).toHaveLength(4)
    const third = JSON.parse(g.calls[2]!.state) as {cursor: string; keys: number}
    expect(failed.cursor).toBe(third.cursor)
    expect(failed.keys).toBe(third.keys)
    expect(JSON.parse(dest.metaValue('copy/1') ?? '{}')).toMatchObject({cursor: third.cursor, keys: third.keys})
    // The stored cursor holds exactly the records committed before it: a resume from it completes the copy.
    const again = puller(dest, sources)
    again.pull(spec())
    expect(await settle(again)).toMatchObject({state: 'done', keys: 2000})
    expect(sources.opened.at(-1)!.cursor).toBe(third.cursor)
    expect(dest.digest(ALL)).toEqual(a.digest(ALL))
  })

  it('commits a frame in slices, storing the frame\'s cursor only with its last slice; a failure mid-frame resumes at the frame\'s start and completes the copy', async () => {
    const a = engineAt().engine
    await fill(a, 2000)
    const dest = engineAt().engine
    const sources = new FakeSources({a})
    const g = gatedEngine(dest, () => 0, 9)
    const p = puller(dest, sources, {engine: g.engine, sliceBytes: 2048})
    p.pull(spec())
    await releaseWhileRunning(p, g)
    const failed = await settle(p)
    expect(failed).toMatchObject({state: 'failed', failedSource: null})
    const states = g.calls.map((c) => JSON.parse(c.state) as {cursor: string | null; keys: number})
    // A 16 KiB frame in 2 KiB slices: the first frame's slices store the state before it (no cursor yet), and only its last one moves on.
    expect(states[0]).toMatchObject({cursor: null, keys: 0})
    const moved = states.findIndex((x) => x.cursor !== null)
    expect(moved).toBeGreaterThan(1)
    expect(states.slice(0, moved).every((x) => x.cursor === null)).toBe(true)
    // Call 9 is a middle slice of the second frame: it carries the first frame's state, which is what stays stored when it fails.
    expect(moved).toBeLessThan(8)
    expect(states[9]!.cursor).toBe(states[moved]!.cursor)
    expect(states[9]!.keys).toBe(states[moved]!.keys)
    expect(failed.cursor).toBe(states[moved]!.cursor)
    expect(failed.keys).toBe(states[moved]!.keys)
    expect(g.calls).toHaveLength(10)
    const again = puller(dest, sources)
    again.pull(spec())
    expect(await settle(again)).toMatchObject({state: 'done', keys: 2000})
    expect(dest.digest(ALL)).toEqual(a.digest(ALL))
  })

  it('stops between slices when the fence is lost: no slice lands after it', async () => {
    const a = engineAt().engine
    await fill(a, 300)
    const dest = engineAt().engine
    let fences = 0
    const applied: number[] = []
    const engine = {
      metaValue: (n: string) => dest.metaValue(n),
      setMetaValue: (n: string, v: string | null) => dest.setMetaValue(n, v),
      adoptFloors: (range: HashRange, floors: readonly GcFloor[], drop?: boolean) => dest.adoptFloors(range, floors, drop),
      applyCopyBatch: (records: NodeRecord[], name: string, state: string, encoded?: Buffer, durable?: boolean) => {
        applied.push(records.length)
        return dest.applyCopyBatch(records, name, state, encoded, durable)
      },
    }
    // Two fences per frame before its first slice (receive, then apply), then one per later slice: lose it at the third.
    const p = puller(dest, new FakeSources({a}), {
      engine,
      sliceBytes: 2048,
      fence: async () => {
        if (++fences >= 3) throw Object.assign(new Error('shard 1 moved past epoch 3'), {code: 'STALE_EPOCH'})
        return ALL
      },
    })
    p.pull(spec())
    const s = await settle(p)
    expect(s).toMatchObject({state: 'failed', errorCode: 'STALE_EPOCH', failedSource: null, keys: 0})
    expect(applied).toHaveLength(1)
  })

  describe('the source gc floor', () => {
    /** FLOOR is the source's gc floor: every value `fill` writes (walls from 1,000,000) is older, and legitimately held. */
    const FLOOR = 2_000_000
    const late = rec('late-value', v(1_500_000), 'a value a purged delete shadowed')
    const fresh = rec('fresh-value', v(3_000_000), 'newer than the floor')
    const oldTombstone = rec('late-tombstone', v(1_500_000), null)
    const lateKeys = (e: StorageEngine) => [late, fresh, oldTombstone].map((r) => (e.get(r.key) ? r.key.toString() : '-'))

    it("Given a fenced source and a destination that took a late value older than its floor before the copy, When the copy starts at the range's beginning, Then the floor is the destination's (persisted), the late value is gone, a tombstone and a newer value stay, and every record of the source is copied", async () => {
      const a = engineAt().engine
      await fill(a, 500)
      await a.fenceBelow(ALL, FLOOR)
      const {engine: dest, dir} = engineAt()
      await dest.apply([late, fresh, oldTombstone])
      const p = puller(dest, new FakeSources({a}))
      p.pull(spec())
      expect(await settle(p)).toMatchObject({state: 'done', keys: 500})
      expect(lateKeys(dest)).toEqual(['-', 'fresh-value', 'late-tombstone'])
      expect(dest.fenceOf(ALL)).toBe(FLOOR)
      // The destination now holds the source's records plus the two it took that are not below the floor (digest cells exact).
      await a.apply([fresh, oldTombstone])
      expect(dest.digest(ALL)).toEqual(a.digest(ALL))
      await dest.close()
      expect(engineAt(dir).engine.floorOf(0)).toBe(FLOOR)
    })

    it('Given a copy cut mid-stream, When it resumes at its cursor and the source sends its floor again, Then nothing the first stream copied is deleted (it would not be sent again) and the floor stays', async () => {
      const a = engineAt().engine
      await fill(a, 2000)
      await a.fenceBelow(ALL, FLOOR)
      const dest = engineAt().engine
      const sources = new FakeSources({a})
      const p = puller(dest, sources)
      sources.cutAfter = 3
      p.pull(spec())
      expect((await settle(p)).state).toBe('failed')
      expect(dest.fenceOf(ALL)).toBe(FLOOR)
      sources.cutAfter = undefined
      p.pull(spec())
      expect((await settle(p)).state).toBe('done')
      expect(sources.opened[1]?.cursor).toBeDefined()
      expect(dest.digest(ALL)).toEqual(a.digest(ALL))
      expect(dest.fenceOf(ALL)).toBe(FLOOR)
    })

    // Adversarial (review of the floor adoption): a copy from several sources reads each whole
    // from the range's beginning, so every source's stream after the first adopts its floor
    // WITH the deletion, over values the earlier streams brought. Nothing they brought may go:
    // below the floor the sources agree (equal fence digests), and above it nothing is deleted.
    it("Given a copy from two sources (the moved replica down) that agree below their floor and each hold fresh writes the other missed, and a destination that took a fresh client write and a late value, When the second source's stream starts at the beginning (adopting its floor with the deletion), Then the destination holds exactly the LWW union of both sources and its client write, without the late value", async () => {
      const b = engineAt().engine
      const c = engineAt().engine
      const want = engineAt().engine
      for (const e of [b, c, want]) await fill(e, 300)
      for (const e of [b, c]) await e.fenceBelow(ALL, FLOOR)
      // Acknowledged by the moved replica and b only (w = 2 of 3): c missed them. key-5 and key-7 hold values below the floor on both sources.
      const onlyB = [rec('key-5', v(3_000_000), 'overwritten after the floor'), rec('key-7', v(3_000_000), null), rec('b-only', v(3_000_000), 'fresh on b')]
      // Acknowledged by the moved replica and c only: b missed it.
      const onlyC = [rec('c-only', v(3_100_000), 'fresh on c')]
      await b.apply(onlyB)
      await c.apply(onlyC)
      const clientWrite = rec('dest-client', v(3_200_000), 'acknowledged through the joint quorum')
      const dest = engineAt().engine
      await dest.apply([late, clientWrite])
      await want.apply([...onlyB, ...onlyC, clientWrite])
      const sources = new FakeSources({b, c})
      const p = puller(dest, sources)
      p.pull(spec({sources: [{node: 'b', address: '127.0.0.1:1'}, {node: 'c', address: '127.0.0.1:2'}]}))
      expect((await settle(p)).state).toBe('done')
      // Both streams started at the beginning: the second one's adoption ran the deletion over what the first brought.
      expect(sources.opened.map((o) => [o.node, o.cursor])).toEqual([['b', undefined], ['c', undefined]])
      expect(dest.get(late.key)).toBeUndefined()
      expect(dest.get(Buffer.from('key-5'))?.value?.toString()).toBe('overwritten after the floor')
      expect(dest.get(Buffer.from('key-7'))?.value).toBeNull()
      expect(dest.digest(ALL)).toEqual(want.digest(ALL))
      expect(dest.fenceOf(ALL)).toBe(FLOOR)
    })

    // Session 32's hunt: the merged copy's later passes may not delete what an earlier one
    // brought. The test above relies on the sources agreeing below their floor (equal fence
    // digests); a fence whose digests differ ("a write raced the fence") still raises the
    // floor on every replica, and a late commit of a write screened just inside the grace
    // leaves a value below the floor on the replicas that acknowledged it and not on the one
    // that refused it. Built here on real engines with the node's own arithmetic (screen at
    // staleFloor, digests and fences at the agreed cutoffLimit).
    describe('a raced gc fence (floors raised over unequal values), then the moved replica dies', () => {
      const GRACE = 10_000
      const T = Date.now() - 60_000
      /** raced builds a (acknowledged the write) and b (refused it), both fenced at the cutoff of a round whose fence digests differed. */
      async function raced() {
        let now = T
        const open = () => {
          const dir = mkdtempSync(join(tmpdir(), 'shardctl-puller-'))
          dirs.push(dir)
          const engine = StorageEngine.open({dir, tombstoneGraceMs: GRACE, synchronous: 'NORMAL', clock: () => now})
          engines.push(engine)
          return engine
        }
        const a = open()
        const b = open()
        // Both hold the same history, an older value of `overwritten` included.
        const older = rec('overwritten', v(T - 50_000), 'older value')
        for (const e of [a, b]) {
          await fill(e, 200, T - 60_000)
          await e.apply([older])
        }
        // A write (a hint replay, or a retry after STALE_EPOCH: same version) stamped just
        // inside the grace. a (and the moved replica) screen it in time; b screens it 1.5 s
        // later and refuses it (PRECONDITION). The router has its w = 2 acks.
        const acked = [rec('overwritten', v(T - GRACE + 100), 'acknowledged overwrite'), rec('acked-new', v(T - GRACE + 100), 'acknowledged new key')]
        expect(acked.every((r) => versionWallOf(r) >= a.staleFloor())).toBe(true)
        now = T + 1500
        expect(acked.every((r) => versionWallOf(r) < b.staleFloor())).toBe(true)
        // Anti-entropy's digests run while a's writer still holds the write (1.5 s behind a
        // busy writer or a slow fsync, more than twice the 500 ms clock bound): equal, so the shard is converged.
        const cutoff = Math.min(initialCutoff(now), a.cutoffLimit(), b.cutoffLimit())
        expect(acked.every((r) => versionWallOf(r) < cutoff)).toBe(true)
        expect(a.digest(ALL, cutoff)).toEqual(b.digest(ALL, cutoff))
        // The write commits on a, then the fence: its digests differ (no purge), but every floor is raised.
        await a.apply(acked)
        const fenced = await Promise.all([a, b].map(async (e) => ({shard: 1, epoch: 3, ...(await e.fenceBelow(ALL, cutoff))})))
        expect(differingBuckets(fenced as DigestResponse[]).length).toBeGreaterThan(0)
        expect([a.fenceOf(ALL), b.fenceOf(ALL)]).toEqual([cutoff, cutoff])
        // b can never take it now: a repair of it is dropped below b's floor.
        expect(b.withoutFenced(acked)).toEqual([])
        return {a, b, acked}
      }

      for (const order of [['a', 'b'], ['b', 'a']] as const) {
        it(`Given the acknowledged write on a alone of the survivors, below both floors, When the destination copies from ${order.join(' then ')}, Then it holds the write (a quorum of b and the destination returns it), not the older value`, async () => {
          const {a, b, acked} = await raced()
          const dest = engineAt().engine
          const sources = new FakeSources({a, b})
          const p = puller(dest, sources)
          p.pull(spec({sources: order.map((node, i) => ({node, address: `127.0.0.1:${i + 1}`}))}))
          expect((await settle(p)).state).toBe('done')
          for (const r of acked) expect(dest.get(r.key)?.value?.toString()).toBe(r.value!.toString())
          expect(dest.digest(ALL)).toEqual(a.digest(ALL))
        })
      }
    })

    it('Given a copy that applied frames and is then started over from the beginning (a new move or epoch), while the source overwrote and deleted copied values and the destination took fresh client writes, When the new stream adopts the floor with the deletion, Then the destination holds the LWW union of the source and its client writes: the source\'s newer records win, and no write above the floor is touched', async () => {
      const a = engineAt().engine
      const want = engineAt().engine
      for (const e of [a, want]) await fill(e, 2000)
      await a.fenceBelow(ALL, FLOOR)
      const dest = engineAt().engine
      const sources = new FakeSources({a})
      const p = puller(dest, sources)
      sources.cutAfter = 3
      p.pull(spec())
      expect((await settle(p)).state).toBe('failed')
      const copied = dest.scan(ALL, undefined, 1 << 30).records.filter((r) => r.value !== null)
      expect(copied.length).toBeGreaterThan(10)
      // Meanwhile: the source overwrites one copied value and deletes another (acknowledged, fresh); the destination takes fresh client writes, one to a key it copied an old value of.
      const onSource = [rec(copied[0]!.key.toString(), v(3_000_000), 'newer on the source'), rec(copied[1]!.key.toString(), v(3_000_000), null)]
      const onDest = [rec(copied[2]!.key.toString(), v(3_000_000), 'client write over a copied key'), rec('dest-only', v(3_000_000), 'client write')]
      await a.apply(onSource)
      await dest.apply(onDest)
      await want.apply([...onSource, ...onDest])
      sources.cutAfter = undefined
      p.pull(spec({moveId: 'm2', epoch: 4}))
      expect((await settle(p)).state).toBe('done')
      expect(sources.opened[1]?.cursor).toBeUndefined()
      expect(dest.digest(ALL)).toEqual(want.digest(ALL))
    })

    it('Given a source that sends a floor newer than the destination\'s clock plus the clock bound (a corrupt header, or a clock far off), When copied from, Then the copy fails naming the source, adopts nothing and deletes nothing', async () => {
      const a = engineAt().engine
      await fill(a, 100)
      const dest = engineAt().engine
      const acknowledged = rec('acknowledged', v(Date.now()), 'a fresh client write')
      await dest.apply([acknowledged, late])
      const sources = new FakeSources({a})
      sources.floors = [{lo: 0, hi: HASH_SPACE, floor: Date.now() + 3_600_000}]
      const p = puller(dest, sources)
      p.pull(spec())
      const s = await settle(p)
      expect(s).toMatchObject({state: 'failed', keys: 0})
      expect(s.error).toMatch(/^source a sent gc floor \d+ over \[0, \d+\) is newer than this node's clock/)
      expect(dest.fenceOf(ALL)).toBe(0)
      expect(dest.get(acknowledged.key)?.value?.toString()).toBe(acknowledged.value!.toString())
      expect(dest.get(late.key)?.value?.toString()).toBe(late.value!.toString())
    })

    it('Given a source of an older build (it sends no floor), When copied from, Then the destination adopts none and keeps what it took, as before', async () => {
      const a = engineAt().engine
      await fill(a, 100)
      await a.fenceBelow(ALL, FLOOR)
      const dest = engineAt().engine
      await dest.apply([late])
      const sources = new FakeSources({a})
      sources.floors = false
      const p = puller(dest, sources)
      p.pull(spec())
      expect((await settle(p)).state).toBe('done')
      expect(dest.fenceOf(ALL)).toBe(0)
      expect(dest.get(late.key)?.value?.toString()).toBe(late.value!.toString())
    })
  })
})

/**
 * threeReplicasCutAfter fills three source replicas a, b and c alike (1,200 records), whose
 * streams are cut after `frames` frames, and a puller into an empty engine reading them.
 */
async function threeReplicasCutAfter(frames: number) {
  const a = engineAt().engine
  const b = engineAt().engine
  const c = engineAt().engine
  for (const e of [a, b, c]) await fill(e, 1200)
  const sources = new FakeSources({a, b, c})
  sources.cutAfter = frames
  return {shardBytes: a.rangeTotals(ALL).bytes, sources, p: puller(engineAt().engine, sources)}
}
