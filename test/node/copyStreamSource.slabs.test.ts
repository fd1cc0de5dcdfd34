import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {createServer, get, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import {createServer as createTlsServer, get as getTls} from 'node:https'
import {type AddressInfo, connect} from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'
import {FrameReader} from '../../src/node/copyFrames.js'
import {SlabLender} from '../../src/node/copyPageSlabs.js'
import {CopyReader} from '../../src/node/copyReader.js'
import {writeCopyStream} from '../../src/node/copyStreamSource.js'
import {DB_FILE} from '../../src/node/lwwSql.js'
import {decodeRecords} from '../../src/node/recordCodec.js'
import {makeTlsCerts} from '../support/tlsCerts.js'
import {ALL, engineFixture, rec, v} from './engineFixture.js'

const open = engineFixture('copyslabs', {})
const servers: Server[] = []
const readers: CopyReader[] = []
afterEach(async () => {
  for (const r of readers.splice(0)) await r.close()
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    await new Promise((r) => s.close(r))
  }
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
    const reader = new CopyReader({file: `${dir}/${DB_FILE}`, pageSize: 16384, dataDir: dir, dataDirId: engine.dataDirId()}, () => lender)
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
    const reader = new CopyReader({file: `${dir}/${DB_FILE}`, pageSize: 16384, dataDir: dir, dataDirId: engine.dataDirId()}, () => lender)
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

/** How one stream's client behaves in the stress test below, and what its stream must end as. */
type Ending = 'done' | 'gone' | 'stalled-gone' | 'fenced'

describe('writeCopyStream over real sockets (plain and TLS), many streams sharing three slabs', {timeout: 180_000}, () => {
  it('given streams whose clients stall, go away mid-frame or with a full socket, and streams fenced mid-way, when they run at once, then every stream that ends delivers its range byte for byte and every slab comes back', async () => {
    const {engine, dir} = open()
    // 8 MiB of values distinct per record: a page overwritten by a later one decodes to other keys or values (or fails to decode).
    const records = Array.from({length: 512}, (_, i) => rec(`stress-${String(i).padStart(4, '0')}`, v(5000 + i), `${i}:`.repeat(1 + (i % 5)) + String.fromCharCode(65 + (i % 26)).repeat(16 * 1024)))
    for (let i = 0; i < records.length; i += 128) await engine.apply(records.slice(i, i + 128))
    const want = engine
      .scan(ALL, undefined, 1 << 30)
      .records.map((r) => lineOf(r.key, r.version, r.value))
      .sort()
    const lender = new SlabLender(3, 160 * 1024)
    const reader = new CopyReader({file: `${dir}/${DB_FILE}`, pageSize: 16384, dataDir: dir, dataDirId: engine.dataDirId()}, () => lender)
    readers.push(reader)
    let pagesInSlabs = 0
    const outcomes = new Map<string, string>()
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      const name = req.url!.slice(1)
      let sent = 0
      res.writeHead(200)
      void writeCopyStream(
        {
          engine: {
            readCopyPage: async (range, cursor, maxBytes) => {
              const page = await reader.read(range, cursor, maxBytes)
              if (page.release) pagesInSlabs++
              return page
            },
          },
          range: ALL,
          cursor: undefined,
          frameBytes: 128 * 1024,
          fenceLost: () => (name.startsWith('fenced') && sent > 2 * 1024 * 1024 ? 'epoch moved on' : undefined),
          buckets: [],
          sleep: async () => {},
          onBytes: (n) => (sent += n),
        },
        res,
      ).then(
        (o) => outcomes.set(name, o),
        (err: Error) => outcomes.set(name, `failed: ${err.message}`),
      )
    }
    const certs = makeTlsCerts()
    try {
      const plain = createServer(handler)
      const tls = createTlsServer({key: readFileSync(certs.serverKey), cert: readFileSync(certs.serverCert)}, handler)
      servers.push(plain, tls as unknown as Server)
      for (const s of [plain, tls]) await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
      const ca = readFileSync(certs.caFile)

      /** stream reads stream `name` as a client that ends as `ending` says; resolves with the record lines it decoded (every frame whole). */
      const stream = (overTls: boolean, name: string, ending: Ending) =>
        new Promise<{lines: string[]; complete: boolean}>((resolve, reject) => {
          const port = ((overTls ? tls : plain).address() as AddressInfo).port
          const lines: string[] = []
          const frames = new FrameReader()
          let bytes = 0
          let n = 0
          let complete = false
          const onRes = (res: IncomingMessage) => {
            const finish = () => resolve({lines, complete})
            res.on('data', (chunk: Buffer) => {
              bytes += chunk.length
              try {
                for (const f of frames.push(chunk)) {
                  for (const r of decodeRecords(f.batch)) lines.push(lineOf(r.key, r.version, r.value))
                  if (f.last) complete = true
                }
              } catch (err) {
                // A frame or batch that does not parse: bytes of a page were overwritten before they were sent.
                reject(err as Error)
                req.destroy()
                return
              }
              if (ending === 'gone' && bytes > 3 * 1024 * 1024) req.destroy()
              else if (ending === 'stalled-gone' && bytes > 1024 * 1024 && !res.isPaused()) {
                // Stop reading: the source's socket fills and its pages wait in its queue, then the connection goes.
                res.pause()
                setTimeout(() => req.destroy(), 200)
              } else if (ending === 'done' && ++n % 5 === 0) {
                res.pause()
                setTimeout(() => res.resume(), 5)
              }
            })
            res.on('end', finish)
            res.on('close', finish)
            res.on('error', () => {})
          }
          const req = overTls ? getTls({host: '127.0.0.1', port, path: `/${name}`, ca}, onRes) : get({host: '127.0.0.1', port, path: `/${name}`}, onRes)
          req.on('error', (err) => (ending === 'done' ? reject(err) : resolve({lines, complete: false})))
          req.on('close', () => resolve({lines, complete}))
        })

      const endings: Ending[] = ['done', 'gone', 'done', 'stalled-gone', 'fenced', 'done']
      const runs = [false, true].flatMap((overTls) => endings.map((ending, i) => ({name: `${ending}-${overTls ? 'tls' : 'plain'}-${i}`, overTls, ending})))
      const got = await Promise.all(runs.map((r) => stream(r.overTls, r.name, r.ending)))
      for (const [i, r] of runs.entries()) {
        if (r.ending !== 'done') continue
        expect(got[i]!.complete, r.name).toBe(true)
        expect(got[i]!.lines.sort(), r.name).toEqual(want)
      }
      // What the cut streams did deliver is whole records of the range, each once.
      for (const [i, r] of runs.entries()) {
        if (r.ending === 'done') continue
        expect(got[i]!.complete, r.name).toBe(false)
        expect(new Set(got[i]!.lines).size, r.name).toBe(got[i]!.lines.length)
        for (const line of got[i]!.lines) expect(want.includes(line), r.name).toBe(true)
      }
      for (let i = 0; i < 500 && (outcomes.size < runs.length || lender.available() < 3); i++) await new Promise((r) => setTimeout(r, 10))
      // A client gone mid-stream may have left the whole rest in the kernel's buffers already (the source then ended as done).
      const ended = (r: (typeof runs)[number]) => (r.ending === 'done' || r.ending === 'fenced' ? r.ending : outcomes.get(r.name) === 'done' ? 'done' : 'closed')
      expect(Object.fromEntries(runs.map((r) => [r.name, outcomes.get(r.name)]))).toEqual(Object.fromEntries(runs.map((r) => [r.name, ended(r)])))
      expect(pagesInSlabs).toBeGreaterThan(50) // the slabs were in use, not bypassed
      expect(lender.available()).toBe(3)
    } finally {
      certs.remove()
    }
  })
})

describe('writeCopyStream over a real socket, a stream queued behind another on a pipelined connection', {timeout: 60_000}, () => {
  it('given two streams asked for at once on one connection, when the connection goes away during the first, then the second (which never had the socket) ends as closed too and every slab comes back', async () => {
    const {engine, dir} = open()
    await engine.apply(Array.from({length: 1024}, (_, i) => rec(`piped-${String(i).padStart(4, '0')}`, v(100 + i), String(i % 10).repeat(16 * 1024))))
    const lender = new SlabLender(4, 160 * 1024)
    const reader = new CopyReader({file: `${dir}/${DB_FILE}`, pageSize: 16384, dataDir: dir, dataDirId: engine.dataDirId()}, () => lender)
    readers.push(reader)
    const outcomes = new Map<string, string>()
    const server = createServer((req, res) => {
      res.writeHead(200)
      void writeCopyStream(
        {engine: {readCopyPage: (range, cursor, maxBytes) => reader.read(range, cursor, maxBytes)}, range: ALL, cursor: undefined, frameBytes: 128 * 1024, fenceLost: () => undefined, buckets: [], sleep: async () => {}},
        res,
      ).then((o) => outcomes.set(req.url!, o))
    })
    servers.push(server)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const socket = connect((server.address() as AddressInfo).port, '127.0.0.1')
    socket.on('error', () => {})
    await new Promise((r) => socket.once('connect', r))
    // 16 MiB for /a, far more than the loopback buffers hold: /a is still being sent when the connection goes.
    // Node answers pipelined requests in order: /b's response is queued (its frames buffered in it) until /a's ends.
    socket.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n')
    let got = 0
    socket.on('data', (d: Buffer) => (got += d.length))
    for (let i = 0; i < 500 && got < 1024 * 1024; i++) await new Promise((r) => setTimeout(r, 10))
    expect(got).toBeGreaterThanOrEqual(1024 * 1024)
    socket.destroy()
    for (let i = 0; i < 300 && (outcomes.size < 2 || lender.available() < 4); i++) await new Promise((r) => setTimeout(r, 10))
    expect(Object.fromEntries(outcomes)).toEqual({'/a': 'closed', '/b': 'closed'})
    expect(lender.available()).toBe(4)
  })
})
