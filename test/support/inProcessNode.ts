import {mkdtempSync, rmSync} from 'node:fs'
import {createServer} from 'node:http'
import {type AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {LoadMeter} from '../../src/node/loadMeter.js'
import {NodeClient} from '../../src/node/nodeClient.js'
import {type NodeApiDeps, NodeHttpApi} from '../../src/node/nodeHttpApi.js'
import {type ShardView} from '../../src/node/shardMapFollower.js'
import {StorageEngine} from '../../src/node/storageEngine.js'

/** InProcessNode is a storage node's HTTP API on its own engine, served on 127.0.0.1 in the test's process, with a client to it. */
export interface InProcessNode {
  engine: StorageEngine
  /** api is the node's HTTP API (for tests that watch its requests, e.g. activeRequests). */
  api: NodeHttpApi
  client: NodeClient
  port: number
  /** close destroys the client, the server's connections, the server and the engine, and removes the data dir. */
  close(): Promise<void>
}

/** InProcessNodeOptions: `serving` defaults to always. */
export interface InProcessNodeOptions {
  /** nodeId is the node's id (default `me`). */
  nodeId?: string
  map: ShardView
  token: string
  tombstoneGraceMs: number
  /** maxClockOffsetMs is the engine's clock bound (default 500 ms): its purge cutoffs stay twice it below the stale floor. */
  maxClockOffsetMs?: number
  /** clock is the engine's wall clock (default Date.now), for tests of nodes with skewed clocks. */
  clock?: () => number
  timeoutMs: number
  dirPrefix: string
  serving?: () => boolean
  /** leaseHeld is the node API's (NodeApiDeps; default: always held). */
  leaseHeld?: () => boolean
  /** writerThread: commit in the storage writer thread, as a served node does (default false: on this thread). */
  writerThread?: boolean
  /** copy and metrics are the node API's (NodeApiDeps), for tests of copies between nodes. */
  copy?: NodeApiDeps['copy']
  metrics?: NodeApiDeps['metrics']
  /** meter is the node's load meter (default: a fresh one on Date.now), for tests that tick it and read its rates. */
  meter?: LoadMeter
  /** rangeGate and acceptWaitMs are the node API's (NodeApiDeps), for tests that hold applies. */
  rangeGate?: NodeApiDeps['rangeGate']
  acceptWaitMs?: number
  /** coverWrites is the node API's (NodeApiDeps; default none: fences answered without a write mark). */
  coverWrites?: NodeApiDeps['coverWrites']
  /** keptCopy is the node API's (NodeApiDeps; default none: reads of a kept copy refused). */
  keptCopy?: NodeApiDeps['keptCopy']
}

/**
 * startInProcessNode opens a SQLite engine (synchronous NORMAL) in a
 * fresh temp dir and serves the node API for it on a run-time port: the node's request
 * handling and storage for real, without a process, for tests of what talks to a node.
 */
export async function startInProcessNode(opts: InProcessNodeOptions): Promise<InProcessNode> {
  const dir = mkdtempSync(join(tmpdir(), opts.dirPrefix))
  const engine = StorageEngine.open({dir, tombstoneGraceMs: opts.tombstoneGraceMs, maxClockOffsetMs: opts.maxClockOffsetMs, clock: opts.clock, synchronous: 'NORMAL', writerThread: opts.writerThread ?? false})
  const nodeId = opts.nodeId ?? 'me'
  const api = new NodeHttpApi({
    nodeId,
    token: Buffer.from(opts.token),
    engine,
    map: opts.map,
    meter: opts.meter ?? new LoadMeter(Date.now()),
    log: {info() {}, warn() {}, error() {}},
    serving: opts.serving ?? (() => true),
    draining: () => false,
    leaseHeld: opts.leaseHeld,
    copy: opts.copy,
    metrics: opts.metrics,
    rangeGate: opts.rangeGate,
    acceptWaitMs: opts.acceptWaitMs,
    coverWrites: opts.coverWrites,
    keptCopy: opts.keptCopy,
  })
  const server = createServer(api.handle)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  const client = new NodeClient({node: nodeId, address: `127.0.0.1:${port}`, token: opts.token, timeoutMs: opts.timeoutMs})
  return {
    engine,
    api,
    client,
    port,
    async close() {
      await client.destroy()
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
      await engine.close()
      rmSync(dir, {recursive: true, force: true})
    },
  }
}
