import {afterEach} from 'vitest'
import {type CopySourceAddress} from '../../src/node/copyPuller.js'
import {CopyReceiver} from '../../src/node/copyReceiver.js'
import {NodeClient} from '../../src/node/nodeClient.js'
import {NodeThrottles} from '../../src/node/nodeThrottles.js'
import {type InProcessNode, startInProcessNode} from './inProcessNode.js'
import {type oneShardCluster} from './oneShardCluster.js'
import {StaticShardMap} from './staticShardMap.js'

/**
 * closedAfterEach registers an afterEach that runs, newest first, every close pushed onto the
 * list it returns (what a copyNodeWorld starts, what the test opens itself), and empties the
 * list for the next test. Call it once, at the top of a test file.
 */
export function closedAfterEach(): (() => Promise<void>)[] {
  const closing: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const c of closing.splice(0).reverse()) await c()
  })
  return closing
}

/** CopyNodeWorldOptions: the one-shard cluster the nodes serve, and how they copy. */
export interface CopyNodeWorldOptions {
  cluster: Awaited<ReturnType<typeof oneShardCluster>>
  token: string
  /** thread receives copies in the copy receive thread (as a served node does), else on the main thread. */
  thread: boolean
  maxClockOffsetMs: number
  /** dirPrefix names the nodes' temporary data dirs (the node id is appended). */
  dirPrefix: string
  /** closing collects what the test's afterEach must close, in order of making. */
  closing: (() => Promise<void>)[]
}

/** CopyNodeWorld: in-process nodes of one shard that copy from each other, each with a map the test rewrites. */
export interface CopyNodeWorld {
  maps: Map<string, StaticShardMap>
  nodes: Map<string, InProcessNode>
  node: (id: string) => InProcessNode
  /** start serves node `id` with `grace` as its tombstone grace, publishes its alive record, and returns a close that runs once. */
  start: (id: string, grace: number) => Promise<{node: InProcessNode; close: () => Promise<void>}>
}

/**
 * copyNodeWorld is the set-up the gc-floor copy tests share (moveGcFloor, moveGcFloorSources,
 * racedFenceHeal): real node code with its write screen, digests, fences and copy streams,
 * on the in-memory store's cluster, peers dialled by node id.
 */
export function copyNodeWorld(opts: CopyNodeWorldOptions): CopyNodeWorld {
  const {store, ctx, shard} = opts.cluster
  const maps = new Map<string, StaticShardMap>()
  const nodes = new Map<string, InProcessNode>()
  const peers: NodeClient[] = []
  const receiver = opts.thread ? new CopyReceiver({peers: () => ({token: opts.token, timeoutMs: 10_000, tls: undefined}), idleMs: 10_000}) : undefined
  opts.closing.push(async () => {
    for (const p of peers) await p.destroy()
    await receiver?.close()
  })
  const start = async (id: string, grace: number) => {
    const map = new StaticShardMap(id, [shard])
    const copy = {
      peer: (s: CopySourceAddress) => {
        const client = new NodeClient({node: s.node, address: s.address, token: opts.token})
        peers.push(client)
        return client
      },
      ...(receiver ? {frames: receiver} : {}),
      throttles: new NodeThrottles(Date.now),
    }
    const node = await startInProcessNode({nodeId: id, map, token: opts.token, tombstoneGraceMs: grace, maxClockOffsetMs: opts.maxClockOffsetMs, timeoutMs: 20_000, dirPrefix: `${opts.dirPrefix}${id}-`, copy})
    let closed = false
    const close = async () => {
      if (!closed) await node.close()
      closed = true
    }
    opts.closing.push(close)
    maps.set(id, map)
    nodes.set(id, node)
    await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: `127.0.0.1:${node.port}`, pid: 1, startedAt: 't', tombstoneGraceMs: grace}))
    return {node, close}
  }
  return {maps, nodes, node: (id) => nodes.get(id)!, start}
}
