import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {connect} from 'node:net'
import {HASH_SPACE} from '../../src/model/hash.js'
import {COPY_PAGE_SLABS, type SlabLender} from '../../src/node/copyPageSlabs.js'
import {type Shard} from '../../src/model/shard.js'
import {decodeRecords} from '../../src/node/recordCodec.js'
import {CURSOR_HEADER, TOKEN_HEADER} from '../../src/node/protocol.js'
import {type InProcessNode, startInProcessNode} from '../support/inProcessNode.js'
import {codeOf, recordsIn} from '../support/nodeTestData.js'
import {StaticShardMap} from '../support/staticShardMap.js'

const TOKEN = 'snapshot-chunk-token-0123456789'
const half = HASH_SPACE / 2
const LOWER: Shard = {id: 0, range: {lo: 0, hi: half}, epoch: 2, replicas: [{node: 'me', role: 'voter'}]}
const UPPER: Shard = {id: 1, range: {lo: half, hi: HASH_SPACE}, epoch: 1, replicas: [{node: 'me', role: 'voter'}]}

let node: InProcessNode

beforeAll(async () => {
  node = await startInProcessNode({map: new StaticShardMap('me', [LOWER, UPPER]), token: TOKEN, tombstoneGraceMs: 3_600_000, timeoutMs: 20_000, dirPrefix: 'shardctl-snapshot-', writerThread: true})
  const lower = recordsIn(LOWER, 'low', 400, 16 * 1024)
  for (let i = 0; i < lower.length; i += 100) await node.client.apply(LOWER.id, LOWER.epoch, lower.slice(i, i + 100), 'write')
  await node.client.apply(UPPER.id, UPPER.epoch, recordsIn(UPPER, 'up', 1, 10), 'write')
}, 60_000)

afterAll(() => node.close())

/** getChunk fetches one snapshot chunk of LOWER; it settles at the response headers, which the node sends once the chunk is read. */
function getChunk(query: string, signal?: AbortSignal): Promise<Response> {
  return fetch(`http://127.0.0.1:${node.port}/v1/shards/${LOWER.id}/snapshot?epoch=${LOWER.epoch}&${query}`, {headers: {[TOKEN_HEADER]: TOKEN}, ...(signal ? {signal} : {})})
}

describe('a snapshot chunk and the event loop', {timeout: 60_000}, () => {
  it('given a chunk being read, when a client reads another shard meanwhile, then the node answers that read first (the chunk is read off its event loop)', async () => {
    // The chunk's read is held until the other read is answered. Read on the event loop (the
    // engine's synchronous scan), it would be answered before the other read is even taken in.
    const engine = node.engine
    const scan = engine.scan.bind(engine)
    const readCopyPage = engine.readCopyPage.bind(engine)
    let began!: () => void
    const reading = new Promise<void>((resolve) => (began = resolve))
    const order: string[] = []
    const other = reading.then(async () => {
      const got = await node.client.get(UPPER.id, UPPER.epoch, recordsIn(UPPER, 'up', 1, 10)[0]!.key)
      order.push('get')
      return got
    })
    engine.scan = (...args) => (began(), scan(...args))
    engine.readCopyPage = async (...args) => {
      began()
      await other
      return readCopyPage(...args)
    }
    try {
      const chunk = getChunk(`maxBytes=${16 * 1024 * 1024}`).then(async (res) => {
        order.push('chunk')
        return decodeRecords(Buffer.from(await res.arrayBuffer()))
      })
      const [records, got] = await Promise.all([chunk, other])
      expect(records.length).toBe(400)
      expect(got.record?.value?.length).toBe(10)
      expect(order).toEqual(['get', 'chunk'])
    } finally {
      engine.scan = scan
      engine.readCopyPage = readCopyPage
    }
  })

  it('given chunks read with cursors, then they cover the range once in order, and a malformed cursor is one-line BAD_INPUT', async () => {
    const seen: string[] = []
    let cursor: string | null = null
    for (let i = 0; i < 100; i++) {
      const res = await getChunk(`maxBytes=${1024 * 1024}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
      expect(res.status).toBe(200)
      for (const r of decodeRecords(Buffer.from(await res.arrayBuffer()))) seen.push(r.key.toString())
      cursor = res.headers.get(CURSOR_HEADER)
      if (!cursor) break
    }
    expect(seen.length).toBe(400)
    expect(new Set(seen).size).toBe(400)
    const bad = await getChunk('cursor=not-a-cursor')
    expect(bad.status).toBe(400)
    expect(await codeOf(node.client.snapshotChunk(LOWER.id, LOWER.epoch, {cursor: 'not-a-cursor'}))).toBe('BAD_INPUT')
  })

  it('given a client gone while its chunk was being read, when the read completes, then the chunk is not sent and its slab comes back', async () => {
    const engine = node.engine
    const lender = (engine as unknown as {copyReader: {lender: SlabLender}}).copyReader.lender
    const settle = async (cond: () => boolean) => {
      for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10))
    }
    await settle(() => lender.available() === COPY_PAGE_SLABS) // earlier chunks' slabs come back once their responses closed
    expect(lender.available()).toBe(COPY_PAGE_SLABS)
    const readCopyPage = engine.readCopyPage.bind(engine)
    let began!: () => void
    const reading = new Promise<void>((resolve) => (began = resolve))
    let gone!: () => void
    const clientGone = new Promise<void>((resolve) => (gone = resolve))
    let reads = 0
    engine.readCopyPage = async (...args) => {
      began()
      await clientGone
      reads++
      return readCopyPage(...args)
    }
    try {
      const abort = new AbortController()
      const chunk = getChunk(`maxBytes=${1024 * 1024}`, abort.signal).then(
        () => 'answered',
        () => 'aborted',
      )
      await reading
      abort.abort()
      expect(await chunk).toBe('aborted')
      await settle(() => node.api.activeRequests() === 0) // the node saw the response close
      expect(node.api.activeRequests()).toBe(0)
      gone()
      await settle(() => reads === 1 && lender.available() === COPY_PAGE_SLABS)
      expect(reads).toBe(1)
      expect(lender.available()).toBe(COPY_PAGE_SLABS)
    } finally {
      engine.readCopyPage = readCopyPage
    }
  })

  it('given a chunk asked for behind another on a pipelined connection, when the connection goes away before the first is answered, then the slab of the queued chunk comes back', async () => {
    const engine = node.engine
    const lender = (engine as unknown as {copyReader: {lender: SlabLender}}).copyReader.lender
    const settle = async (cond: () => boolean) => {
      for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10))
    }
    await settle(() => lender.available() === COPY_PAGE_SLABS)
    expect(lender.available()).toBe(COPY_PAGE_SLABS)
    const readCopyPage = engine.readCopyPage.bind(engine)
    let held!: () => void
    const hold = new Promise<void>((resolve) => (held = resolve))
    let reads = 0
    let heldRead!: () => void
    const heldReadDone = new Promise<void>((resolve) => (heldRead = resolve))
    engine.readCopyPage = async (...args) => {
      // The first chunk's read is held: the second, read meanwhile, waits for the first's answer (Node answers in order).
      if (reads++ > 0) return readCopyPage(...args)
      await hold
      const page = await readCopyPage(...args)
      heldRead()
      return page
    }
    try {
      const socket = connect(node.port, '127.0.0.1')
      socket.on('error', () => {})
      await new Promise((r) => socket.once('connect', r))
      const ask = `GET /v1/shards/${LOWER.id}/snapshot?epoch=${LOWER.epoch}&maxBytes=${256 * 1024} HTTP/1.1\r\nHost: x\r\n${TOKEN_HEADER}: ${TOKEN}\r\n\r\n`
      socket.write(ask + ask)
      await settle(() => reads === 2 && lender.available() === COPY_PAGE_SLABS - 1) // the second chunk is read, in a slab, queued
      expect(lender.available()).toBe(COPY_PAGE_SLABS - 1)
      socket.destroy()
      await settle(() => node.api.activeRequests() <= 1) // the first (held) response closed; the queued one never had the socket
      held()
      await heldReadDone
      await settle(() => lender.available() === COPY_PAGE_SLABS)
      expect(lender.available()).toBe(COPY_PAGE_SLABS)
    } finally {
      engine.readCopyPage = readCopyPage
    }
  })
})
