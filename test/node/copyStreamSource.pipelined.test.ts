import {createServer, type Server} from 'node:http'
import {type AddressInfo, connect, type Socket} from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'
import {type CopyPage} from '../../src/node/copyPageReader.js'
import {SlabLender} from '../../src/node/copyPageSlabs.js'
import {writeCopyStream} from '../../src/node/copyStreamSource.js'

/**
 * Many copy streams pipelined on one keep-alive connection: every stream watches the
 * connection's close (a response queued behind another never gets a 'close' of its own
 * when the connection goes: see onResponseGone). One listener per stream on the socket
 * printed Node's MaxListenersExceededWarning past 10 streams; the streams must share the
 * socket's close, and leave no listener behind once their pages' slabs are released.
 */

const STREAMS = 16
const servers: Server[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    await new Promise((r) => s.close(r))
  }
})

/** slabEngine serves two pages per stream (cursor '1', then the last; with `endless`, pages for ever), each in a slab of `lender` when one is free. */
function slabEngine(lender: SlabLender, endless = false, bytes = 4096) {
  return {
    readCopyPage: async (_range: unknown, cursor: string | undefined): Promise<CopyPage> => {
      const slab = lender.lend()
      const next = cursor === undefined || endless ? '1' : undefined
      if (slab === undefined) return {batch: Buffer.alloc(bytes, 120), records: 1, cursor: next}
      const page = lender.page(slab, bytes)
      page.batch.fill(120)
      return {...page, records: 1, cursor: next}
    },
  }
}

describe('writeCopyStream, many streams pipelined on one connection', () => {
  it(`given ${STREAMS} copy streams requested at once on one connection, when they all run and end, then no MaxListenersExceededWarning is printed, every slab comes back and the socket keeps no listener of theirs`, async () => {
    const warnings: Error[] = []
    const onWarning = (w: Error) => warnings.push(w)
    process.on('warning', onWarning)
    try {
      const lender = new SlabLender(4, 64 * 1024)
      const outcomes: string[] = []
      let conn: Socket | undefined
      let baseline = 0
      const server = createServer((req, res) => {
        if (!conn) {
          conn = req.socket
          baseline = conn.listenerCount('close')
        }
        res.writeHead(200)
        void writeCopyStream({engine: slabEngine(lender) as never, range: {lo: 0, hi: 2 ** 32}, cursor: undefined, frameBytes: 64 * 1024, fenceLost: () => undefined, buckets: [], sleep: async () => {}}, res).then((o) => outcomes.push(o))
      })
      servers.push(server)
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
      const port = (server.address() as AddressInfo).port
      const client = connect(port, '127.0.0.1')
      let ends = 0
      const allEnded = new Promise<void>((resolve, reject) => {
        let tail = ''
        client.on('data', (chunk: Buffer) => {
          // Each chunked response ends with a zero-size chunk; the pages are all 'x', so the marker is unambiguous.
          const text = tail + chunk.toString('latin1')
          ends += text.split('\r\n0\r\n\r\n').length - 1
          tail = text.slice(-6)
          if (ends >= STREAMS) resolve()
        })
        client.on('error', reject)
      })
      // All requests in one write: the server parses them together, so every stream is open at once.
      client.write(Array.from({length: STREAMS}, (_, i) => `GET /copy/${i} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''))
      await allEnded
      // Bounded polls, not timings: the last 'close' and write callbacks come after the bytes.
      for (let i = 0; i < 300 && (outcomes.length < STREAMS || lender.available() < 4); i++) await new Promise((r) => setTimeout(r, 10))
      // A warning is emitted on the next tick after the listener was added: long landed by now.
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message)).toEqual([])
      expect(outcomes).toEqual(Array.from({length: STREAMS}, () => 'done'))
      expect(lender.available()).toBe(4)
      // Node's own listeners on the socket may come and go; none of the streams' is left.
      expect(conn!.listenerCount('close')).toBeLessThanOrEqual(baseline)
      client.destroy()
    } finally {
      process.off('warning', onWarning)
    }
  })

  it(`given ${STREAMS} endless copy streams pipelined on one connection, when the client goes away during the first, then every stream (the queued ones, which never had the socket, too) ends as closed and every slab comes back`, async () => {
    const lender = new SlabLender(4, 64 * 1024)
    const outcomes: string[] = []
    const server = createServer((_req, res) => {
      res.writeHead(200)
      void writeCopyStream({engine: slabEngine(lender, true, 32 * 1024) as never, range: {lo: 0, hi: 2 ** 32}, cursor: undefined, frameBytes: 64 * 1024, fenceLost: () => undefined, buckets: [], sleep: async () => {}}, res).then((o) => outcomes.push(o))
    })
    servers.push(server)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const client = connect((server.address() as AddressInfo).port, '127.0.0.1')
    client.on('error', () => {})
    const firstBytes = new Promise<void>((r) => client.once('data', () => r()))
    client.write(Array.from({length: STREAMS}, (_, i) => `GET /copy/${i} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''))
    await firstBytes
    client.pause()
    client.destroy()
    for (let i = 0; i < 500 && (outcomes.length < STREAMS || lender.available() < 4); i++) await new Promise((r) => setTimeout(r, 10))
    expect(outcomes).toEqual(Array.from({length: STREAMS}, () => 'closed'))
    expect(lender.available()).toBe(4)
  })
})
