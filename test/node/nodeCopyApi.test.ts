import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {HASH_SPACE} from '../../src/model/hash.js'
import {formatHlc} from '../../src/model/hlc.js'
import {NodeClient} from '../../src/node/nodeClient.js'
import {NodeThrottles} from '../../src/node/nodeThrottles.js'
import {NodeMetrics} from '../../src/node/nodeMetrics.js'
import {FrameReader} from '../../src/node/copyFrames.js'
import {FIRST_PAGE_BYTES} from '../../src/node/copyStreamSource.js'
import {COPY_PAGE_SLABS, type SlabLender} from '../../src/node/copyPageSlabs.js'
import {decodeRecords} from '../../src/node/recordCodec.js'
import {type CopySourceAddress} from '../../src/node/copyPuller.js'
import {CopyShardMap, expectPullPacedByReceiveThrottle, settledPull} from '../support/copyShard.js'
import {codeOf} from '../support/nodeTestData.js'
import {type InProcessNode, startInProcessNode} from '../support/inProcessNode.js'

const TOKEN = 'unit-test-token-0123456789'
const ALL = {lo: 0, hi: HASH_SPACE}

/** Side is a node served in this process, with the map the test edits. */
type Side = InProcessNode & {map: CopyShardMap}

let src: Side
let dst: Side
const peers: NodeClient[] = []

async function side(id: string): Promise<Side> {
  const map = new CopyShardMap(id)
  const copy = {
    peer: (s: CopySourceAddress) => {
      const c = new NodeClient({node: s.node, address: s.address, token: TOKEN})
      peers.push(c)
      return c
    },
    throttles: new NodeThrottles(Date.now),
  }
  const metrics = new NodeMetrics(() => [], {defaultMetrics: false})
  return {...(await startInProcessNode({nodeId: id, map, token: TOKEN, tombstoneGraceMs: 3_600_000, timeoutMs: 5000, dirPrefix: `shardctl-copyapi-${id}-`, writerThread: true, copy, metrics})), map}
}

beforeAll(async () => {
  src = await side('src')
  dst = await side('dst')
  const records = Array.from({length: 3000}, (_, i) => ({key: Buffer.from(`k${i}`), version: formatHlc({wall: 1_000_000 + i, counter: 0, writer: 'w'}), value: i % 11 === 0 ? null : Buffer.alloc(300, i % 256)}))
  await src.engine.apply(records)
})

afterAll(async () => {
  for (const c of peers) await c.destroy()
  for (const s of [src, dst]) await s.close()
})

const pullReq = (over: Partial<Parameters<NodeClient['pull']>[1]> = {}) => ({moveId: 'm1', epoch: 5, sources: [{node: 'src', address: src.client.address}], rate: null, frameBytes: 64 * 1024, ...over})

describe('node-to-node copy over HTTP', {timeout: 30_000}, () => {
  it('given a joining destination, when asked to pull, then it streams the whole shard from the source (digests equal)', async () => {
    expect((await dst.client.pull(1, pullReq())).state).toBe('running')
    const s = await settledPull(dst.client)
    expect(s).toMatchObject({state: 'done', keys: 3000, source: 'src'})
    expect(dst.engine.digest(ALL)).toEqual(src.engine.digest(ALL))
    // Both ends count the copy in /metrics: bytes out at the source, a copy apply batch per frame in.
    const scrape = async (side: Side) => (await fetch(`http://${side.client.address}/metrics`)).text()
    expect(Number(/^shardctl_node_copy_out_bytes_total (\d+)/m.exec(await scrape(src))?.[1])).toBeGreaterThan(0)
    expect(Number(/^shardctl_node_apply_bytes_total\{kind="copy"\} (\d+)/m.exec(await scrape(dst))?.[1])).toBeGreaterThan(0)
  })

  it('is fenced at both ends: a destination that is not a replica, an old epoch, or a source at another epoch are refused', async () => {
    expect(await codeOf(dst.client.pull(1, pullReq({moveId: 'm2', epoch: 4})))).toBe('STALE_EPOCH')
    dst.map.shard = {...dst.map.shard, replicas: [{node: 'src', role: 'voter'}]}
    try {
      expect(await codeOf(dst.client.pull(1, pullReq({moveId: 'm2'})))).toBe('NOT_OWNER')
    } finally {
      dst.map.shard = {...dst.map.shard, replicas: [{node: 'src', role: 'voter'}, {node: 'dst', role: 'joining'}]}
    }
    // The source moved on (epoch 6) while the destination still copies at 5: the copy fails, naming the source.
    src.map.shard = {...src.map.shard, epoch: 6}
    try {
      await dst.client.pull(1, pullReq({moveId: 'm3'}))
      const s = await settledPull(dst.client)
      expect(s).toMatchObject({state: 'failed', failedSource: 'src', errorCode: 'STALE_EPOCH'})
    } finally {
      src.map.shard = {...src.map.shard, epoch: 5}
    }
  })

  it('refuses bad input with 400 and changes nothing', async () => {
    expect(await codeOf(dst.client.pull(1, pullReq({frameBytes: -1})))).toBe('BAD_INPUT')
    expect(await codeOf(dst.client.pull(1, pullReq({sources: []})))).toBe('BAD_INPUT')
    expect(await codeOf(dst.client.setThrottle({send: -5}))).toBe('BAD_INPUT')
    expect(await dst.client.setThrottle({})).toEqual({send: null, receive: null})
    expect(await codeOf(src.client.copyStream(1, 5, {cursor: 'not-a-cursor', frameBytes: 65536, signal: new AbortController().signal}).next())).toBe('BAD_INPUT')
  })

  it('holds a node receive throttle set live: a second copy of the shard runs no faster than the set rate', async () => {
    await expectPullPacedByReceiveThrottle(dst.client, 512 * 1024, () => dst.client.pull(1, pullReq({moveId: 'm4'})))
  })

  it('paces a stream at the rate its destination named, at the source: read as fast as it comes, it still takes bytes / rate; the rate changes live', async () => {
    const rate = 256 * 1024
    const move = 'paced-1'
    const reader = new FrameReader()
    let bytes = 0
    let keys = 0
    let raised: {streams: number} | undefined
    const t0 = performance.now()
    let paced = 0
    for await (const chunk of src.client.copyStream(1, 5, {frameBytes: 64 * 1024, signal: new AbortController().signal, pace: {move, rate}})) {
      for (const f of reader.push(chunk)) {
        bytes += f.batch.length
        keys += decodeRecords(f.batch).length
        if (!raised && bytes >= 256 * 1024) {
          // The stream's bucket starts empty, so every byte so far was paid at the rate.
          paced = (performance.now() - t0) / 1000
          expect(paced).toBeGreaterThanOrEqual((bytes / rate) * 0.95)
          raised = await src.client.streamRate(1, {move, rate: null})
        }
      }
    }
    expect(raised).toEqual({streams: 1})
    expect(keys).toBe(3000)
    // Ended: the stream is no longer the move's (and another move's rate never touched it).
    expect(await src.client.streamRate(1, {move, rate})).toEqual({streams: 0})
  })

  it('cuts its frames to the live rate at the source: a stream opened fast and cut to a crawl keeps bytes coming (no idle timeout), and finishes once raised', async () => {
    const move = 'paced-cut'
    const crawl = 32 * 1024
    const reader = new FrameReader()
    let keys = 0
    let cut = false
    let raised = false
    const atCrawl: number[] = []
    // idleMs 4000 (the default is 30 s): a 256 KiB frame at 32 KiB/s would leave the socket silent for 8 s.
    for await (const chunk of src.client.copyStream(1, 5, {frameBytes: 512 * 1024, signal: new AbortController().signal, idleMs: 4000, pace: {move, rate: 8 * 1024 * 1024, stream: 's-cut'}})) {
      for (const f of reader.push(chunk)) {
        keys += decodeRecords(f.batch).length
        if (cut && !raised) atCrawl.push(f.batch.length)
        if (!cut) {
          // A change naming another stream of the move touches none (the stream's id travels with the request).
          expect(await src.client.streamRate(1, {move, rate: 1, stream: 's-other'})).toEqual({streams: 0})
          expect(await src.client.streamRate(1, {move, rate: crawl, stream: 's-cut'})).toEqual({streams: 1})
          cut = true
        } else if (!raised && atCrawl.length >= 4) {
          expect(await src.client.streamRate(1, {move, rate: null})).toEqual({streams: 1})
          raised = true
        }
      }
    }
    expect(keys).toBe(3000)
    // The frame in flight when the rate was cut may be large; the ones after are about 0.1 s of the crawl (16 KiB at least) plus one record.
    for (const n of atCrawl.slice(2)) expect(n).toBeLessThan(16 * 1024 + 1024)
  })

  it('opens its copy streams naming the move, so the source paces them and takes the rate changes the destination tells it', async () => {
    await dst.client.pull(1, pullReq({moveId: 'm7', rate: 64 * 1024}))
    try {
      // The destination's stream of m7 is open at the source (the copy runs for seconds at 64 KiB/s).
      let streams = 0
      for (let i = 0; i < 200 && streams === 0; i++) {
        streams = (await src.client.streamRate(1, {move: 'm7', rate: 64 * 1024})).streams
        if (streams === 0) await new Promise((r) => setTimeout(r, 10))
      }
      expect(streams).toBe(1)
      expect((await src.client.streamRate(1, {move: 'm-other', rate: 1})).streams).toBe(0)
      // Re-rated to unlimited (the executor's `throttle set`): both ends let it go.
      expect((await dst.client.pull(1, pullReq({moveId: 'm7', rate: null}))).rate).toBeNull()
      expect(await settledPull(dst.client)).toMatchObject({state: 'done', keys: 3000})
    } finally {
      await dst.client.cancelPull(1, 'm7')
    }
  })

  it('refuses a malformed pace with 400 and serves nothing', async () => {
    const stream = async (q: string) => (await fetch(`http://${src.client.address}/v1/shards/1/stream?epoch=5&${q}`, {headers: {'x-shardctl-token': TOKEN}})).status
    expect(await stream('rate=1000')).toBe(400)
    expect(await stream('move=m&rate=fast')).toBe(400)
    expect(await stream('move=m&rate=0')).toBe(400)
    expect(await stream('move=m&rate=-5')).toBe(400)
    expect(await stream('move=&rate=5')).toBe(400)
    expect(await stream('stream=s1')).toBe(400)
    expect(await stream('move=m&stream=')).toBe(400)
    expect(await stream(`move=m&stream=${'s'.repeat(101)}`)).toBe(400)
    expect(await codeOf(src.client.streamRate(1, {move: 'm', rate: 5, stream: ''}))).toBe('BAD_INPUT')
    expect(await codeOf(src.client.streamRate(1, {move: 'm', rate: -1}))).toBe('BAD_INPUT')
    expect(await codeOf(src.client.streamRate(1, {move: '', rate: 5}))).toBe('BAD_INPUT')
  })

  it('cancels a running copy (DELETE) and keeps its durable cursor for a resume', async () => {
    await dst.client.setThrottle({receive: 64 * 1024})
    try {
      await dst.client.pull(1, pullReq({moveId: 'm5'}))
      await new Promise((r) => setTimeout(r, 600))
      const c = await dst.client.cancelPull(1, 'm5')
      expect(c.state).toBe('cancelled')
      expect(c.keys).toBeLessThan(3000)
    } finally {
      await dst.client.setThrottle({receive: null})
    }
    await dst.client.pull(1, pullReq({moveId: 'm5'}))
    expect(await settledPull(dst.client)).toMatchObject({state: 'done', keys: 3000})
  })

  it('answers a long poll (wait=MS) the moment a running copy ends, not at once with "running"', async () => {
    await dst.client.setThrottle({receive: 64 * 1024})
    try {
      await dst.client.pull(1, pullReq({moveId: 'm6'}))
      // The copy runs for seconds at 64 KiB/s; the long poll can only end early because the copy ended.
      const polled = dst.client.pullStatus(1, {waitMs: 2000})
      await new Promise((r) => setTimeout(r, 100))
      const cancelled = await dst.client.cancelPull(1, 'm6')
      const s = await polled
      expect(cancelled.state).toBe('cancelled')
      expect(s.state).toBe('cancelled')
      expect(s.keys).toBe(cancelled.keys)
      // Without `wait` the status is immediate, and a finished copy answers at once either way.
      expect((await dst.client.pullStatus(1)).state).toBe('cancelled')
      expect((await dst.client.pullStatus(1, {waitMs: 2000})).state).toBe('cancelled')
    } finally {
      await dst.client.setThrottle({receive: null})
    }
  })

  it('refuses a long poll beyond 2 s or a malformed wait with 400', async () => {
    const get = async (q: string) => (await fetch(`http://${dst.client.address}/v1/shards/1/pull?${q}`, {headers: {'x-shardctl-token': TOKEN}})).status
    expect(await get('wait=2001')).toBe(400)
    expect(await get('wait=-1')).toBe(400)
    expect(await get('wait=soon')).toBe(400)
    expect(await get('wait=0')).toBe(200)
  })

  it('starts a stream with a small frame and doubles it up to frameBytes (the first bytes land without waiting on a whole frame)', async () => {
    const reader = new FrameReader()
    const sizes: number[] = []
    let keys = 0
    for await (const chunk of src.client.copyStream(1, 5, {frameBytes: 512 * 1024, signal: new AbortController().signal})) {
      for (const f of reader.push(chunk)) {
        sizes.push(f.batch.length)
        keys += decodeRecords(f.batch).length
      }
    }
    const record = 400 // one record of the fixture (300 B value, key, version, header) may overshoot a page
    expect(keys).toBe(3000)
    expect(sizes[0]!).toBeLessThanOrEqual(FIRST_PAGE_BYTES + record)
    expect(sizes[1]!).toBeGreaterThan(FIRST_PAGE_BYTES)
    expect(sizes[1]!).toBeLessThanOrEqual(2 * FIRST_PAGE_BYTES + record)
    expect(Math.max(...sizes)).toBeLessThanOrEqual(512 * 1024 + record)
    expect(Math.max(...sizes)).toBeGreaterThan(256 * 1024)
  })
})

describe('the source after the copies above', {timeout: 30_000}, () => {
  it('given every copy above ended (done, fenced, refused, throttled, paced, cancelled), then every slab its pages were read into is free again', async () => {
    const lender = (src.engine as unknown as {copyReader: {lender: SlabLender}}).copyReader.lender
    // A stream's last slab comes back once its response closed, just after the destination saw the end.
    for (let i = 0; i < 300 && lender.available() < COPY_PAGE_SLABS; i++) await new Promise((r) => setTimeout(r, 10))
    expect(lender.available()).toBe(COPY_PAGE_SLABS)
  })
})
