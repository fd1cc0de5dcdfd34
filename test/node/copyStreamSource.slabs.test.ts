import {createHash} from 'node:crypto'
import {createServer, get, type Server} from 'node:http'
import {type AddressInfo} from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'
import {FrameReader} from '../../src/node/copyFrames.js'
import {SlabLender} from '../../src/node/copyPageSlabs.js'
import {CopyReader} from '../../src/node/copyReader.js'
import {writeCopyStream} from '../../src/node/copyStreamSource.js'
import {DB_FILE} from '../../src/node/lwwSql.js'
import {decodeRecords} from '../../src/node/recordCodec.js'
import {ALL, engineFixture, rec, v} from './engineFixture.js'

const open = engineFixture('copyslabs', {})
const servers: Server[] = []
const readers: CopyReader[] = []
afterEach(async () => {
  for (const r of readers.splice(0)) await r.close()
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r))
})

/** digestOf is one line per record (key, version, sha1 of the value), sorted: what a copy must deliver, byte for byte. */
function lineOf(key: Buffer, version: string, value: Buffer | null): string {
  return `${key.toString()} ${version} ${value === null ? '-' : createHash('sha1').update(value).digest('hex')}`
}

describe('writeCopyStream over a real socket, pages in two reused slabs', {timeout: 120_000}, () => {
  it('given a reader that stalls the socket again and again, when every slab is reused many times, then every frame arrives byte for byte and every slab comes back', async () => {
    const {engine, dir} = open()
    // 24 MiB of distinct values: far more than the loopback socket's buffers, so pages wait in the socket's queue while later ones are read.
    const records = Array.from({length: 3072}, (_, i) => rec(`key-${String(i).padStart(5, '0')}`, v(1000 + i), `${i}:`.repeat(1 + (i % 7)) + String(i % 251).repeat(8192)))
    for (let i = 0; i < records.length; i += 256) await engine.apply(records.slice(i, i + 256))
    const want = engine
      .scan(ALL, undefined, 1 << 30)
      .records.map((r) => lineOf(r.key, r.version, r.value))
      .sort()
    expect(want).toHaveLength(records.length)

    const lender = new SlabLender(2, 128 * 1024)
    const reader = new CopyReader({file: `${dir}/${DB_FILE}`, pageSize: 16384}, lender)
    readers.push(reader)
    let outcome: string | undefined
    const server = createServer((_req, res) => {
      res.writeHead(200)
      void writeCopyStream(
        {engine: {readCopyPage: (range, cursor, maxBytes) => reader.read(range, cursor, maxBytes)}, range: ALL, cursor: undefined, frameBytes: 64 * 1024, fenceLost: () => undefined, buckets: [], sleep: async () => {}},
        res,
      ).then((o) => (outcome = o))
    })
    servers.push(server)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as AddressInfo).port

    const got: string[] = []
    let pagesInSlabs = 0
    const frames = new FrameReader()
    await new Promise<void>((resolve, reject) => {
      get({host: '127.0.0.1', port, path: '/'}, (res) => {
        let n = 0
        res.on('data', (chunk: Buffer) => {
          for (const f of frames.push(chunk)) for (const r of decodeRecords(f.batch)) got.push(lineOf(r.key, r.version, r.value))
          // Stall every 8th chunk for a while: the source's socket fills and its pages queue behind it.
          if (++n % 8 === 0) {
            res.pause()
            setTimeout(() => res.resume(), 15)
          }
          if (lender.available() < 2) pagesInSlabs++
        })
        res.on('end', resolve)
        res.on('error', reject)
      }).on('error', reject)
    })
    expect(outcome).toBe('done')
    expect(got.sort()).toEqual(want)
    expect(pagesInSlabs).toBeGreaterThan(10) // the slabs were in use, not bypassed
    for (let i = 0; i < 100 && lender.available() < 2; i++) await new Promise((r) => setTimeout(r, 10))
    expect(lender.available()).toBe(2)
  })
})

describe('writeCopyStream over a real socket, a response closed before the stream began', {timeout: 60_000}, () => {
  it('given a client gone while the stream was being opened (its fence awaited), when writeCopyStream runs on the closed response, then it ends as closed and every slab comes back', async () => {
    const {engine, dir} = open()
    const records = Array.from({length: 64}, (_, i) => rec(`gone-${String(i).padStart(3, '0')}`, v(100 + i), String(i % 10).repeat(16 * 1024)))
    await engine.apply(records)
    const lender = new SlabLender(2, 512 * 1024)
    const reader = new CopyReader({file: `${dir}/${DB_FILE}`, pageSize: 16384}, lender)
    readers.push(reader)
    let outcome: string | undefined
    let sawClose!: () => void
    const closedSeen = new Promise<void>((r) => (sawClose = r))
    const server = createServer((_req, res) => {
      // The handler is still awaiting (the node's fence) when the client goes away; it writes only once the response closed.
      res.once('close', () => {
        sawClose()
        res.writeHead(200)
        void writeCopyStream(
          {engine: {readCopyPage: (range, cursor, maxBytes) => reader.read(range, cursor, maxBytes)}, range: ALL, cursor: undefined, frameBytes: 64 * 1024, fenceLost: () => undefined, buckets: [], sleep: async () => {}},
          res,
        ).then((o) => (outcome = o))
      })
    })
    servers.push(server)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as AddressInfo).port
    const req = get({host: '127.0.0.1', port, path: '/'})
    req.on('error', () => {})
    req.once('socket', (s) => s.once('connect', () => setImmediate(() => req.destroy())))
    await closedSeen
    // Bounded polls, not timings: a stream that waits for a drain or a close that never comes stays undefined.
    for (let i = 0; i < 300 && (outcome === undefined || lender.available() < 2); i++) await new Promise((r) => setTimeout(r, 10))
    expect(outcome).toBe('closed')
    expect(lender.available()).toBe(2)
  })
})
