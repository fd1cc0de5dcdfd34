import {myself, parseClusterNodes, type RedisClusterNode} from '../../src/redis/clusterNodes.js'
import {keySlot} from '../../src/redis/keySlot.js'
import {killAndRestartServer, type LocalRedisCluster, type LocalRedisServer, redisBinariesAvailable, startLocalRedisCluster} from '../../src/redis/localRedisCluster.js'
import {withRedisNode} from '../../src/redis/redisConnection.js'
import {trackPid, untrackPid} from './processReaper.js'

/** RedisServerProcess is one `redis-server` child in cluster mode. */
export type RedisServerProcess = LocalRedisServer

/** RealRedisCluster is a running Redis Cluster of real processes on 127.0.0.1 (see startLocalRedisCluster). */
export type RealRedisCluster = LocalRedisCluster

/** redisAvailable tells whether redis-server and redis-cli are on PATH (tests skip otherwise). */
export const redisAvailable = redisBinariesAvailable

/**
 * startRedisCluster starts a real cluster with {@link startLocalRedisCluster} (3 masters + 1
 * replica each unless told) and registers every server with the process reaper, so a crashed
 * test run leaves none behind.
 */
export function startRedisCluster(opts: {masters?: number; replicasPerMaster?: number; serverArgs?: readonly string[]} = {}): Promise<RealRedisCluster> {
  return startLocalRedisCluster({...opts, onSpawn: trackPid, onExit: untrackPid})
}

/**
 * FAST_FAILURE_DETECTION are serverArgs for the test clusters of files that kill or stop a
 * master and wait for Redis to flag it `fail` or fail it over: a 2 s cluster-node-timeout
 * instead of the 5 s startLocalRedisCluster runs with (the later flag wins). Redis's failure
 * reports and replica election scale with it, so each such wait is seconds shorter (the five
 * files using it: 151-184 s -> 113-129 s in all); what the tests check after the failover does
 * not depend on how soon it came. Not the default: a cluster without replicas
 * refuses every query while a master is flagged, so a master left unscheduled 2 s on a loaded
 * runner would fail load tests that are not about failures.
 */
export const FAST_FAILURE_DETECTION: readonly string[] = ['--cluster-node-timeout', '2000']

/** RedisMaster is one master of a test cluster: its shardctl (short) id, full Redis id and address. */
export interface RedisMaster {
  node: string
  redisId: string
  address: string
}

/** OpenSlot is a slot one master marks MIGRATING or IMPORTING in its own view. */
export interface OpenSlotMark {
  slot: number
  node: string
  state: 'migrating' | 'importing'
}

async function myView(address: string): Promise<RedisClusterNode> {
  return withRedisNode(address, async (r) => {
    const me = myself(parseClusterNodes(String(await r.call('CLUSTER', 'NODES'))))
    if (!me) throw new Error(`redis node ${address} did not report itself in CLUSTER NODES`)
    return me
  })
}

/** servedSlots is the set of slots `master` serves by its own CLUSTER NODES view. */
export async function servedSlots(master: RedisMaster): Promise<Set<number>> {
  return new Set((await myView(master.address)).slots)
}

/** ownerOf is the short id of the master that serves `slot` by its own view ('none' when no master claims it). */
export async function ownerOf(masters: readonly RedisMaster[], slot: number): Promise<string> {
  for (const m of masters) if ((await servedSlots(m)).has(slot)) return m.node
  return 'none'
}

/** openSlotMarks lists every MIGRATING/IMPORTING mark on the masters, each by its own view. */
export async function openSlotMarks(masters: readonly RedisMaster[]): Promise<OpenSlotMark[]> {
  const out: OpenSlotMark[] = []
  for (const m of masters) {
    const me = await myView(m.address)
    for (const slot of me.migrating.keys()) out.push({slot, node: m.node, state: 'migrating'})
    for (const slot of me.importing.keys()) out.push({slot, node: m.node, state: 'importing'})
  }
  return out
}

/**
 * tagsInSlots returns `n` hash tags, each in a different slot of [first, end), in ascending
 * slot order (keys `{tag}:...` land in that slot). Computed locally (CRC16), no round trips.
 */
export function tagsInSlots(first: number, end: number, n: number, prefix = 'm'): {tag: string; slot: number}[] {
  const found = new Map<number, string>()
  for (let i = 0; found.size < n && i < 2_000_000; i++) {
    const slot = keySlot(`${prefix}${i}`)
    if (slot >= first && slot < end && !found.has(slot)) found.set(slot, `${prefix}${i}`)
  }
  if (found.size < n) throw new Error(`found only ${found.size} of ${n} tags in slots [${first}, ${end})`)
  return [...found].map(([slot, tag]) => ({tag, slot})).sort((a, b) => a.slot - b.slot)
}

/**
 * moveSlotByHand migrates `slot` from master `src` to master `dst` the way an operator's
 * redis-cli does (IMPORTING, MIGRATING, MIGRATE batches, SETSLOT NODE on the target, the
 * source, then every other master): a change made outside shardctl.
 */
export async function moveSlotByHand(masters: readonly RedisMaster[], slot: number, src: RedisMaster, dst: RedisMaster): Promise<void> {
  await withRedisNode(dst.address, (r) => r.call('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', src.redisId))
  await withRedisNode(src.address, async (r) => {
    await r.call('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', dst.redisId)
    const i = dst.address.lastIndexOf(':')
    for (let round = 0; round < 1000; round++) {
      const keys = (await r.call('CLUSTER', 'GETKEYSINSLOT', String(slot), '100')) as string[]
      if (keys.length === 0) return
      // A MIGRATE that timed out on a loaded machine (IOERR) may have copied keys it kept on the
      // source: the next round lists them again and REPLACE copies them over (an operator's retry).
      await r.call('MIGRATE', dst.address.slice(0, i), dst.address.slice(i + 1), '', '0', '5000', 'REPLACE', 'KEYS', ...keys).catch((err: Error) => {
        if (!/IOERR/.test(err.message)) throw err
      })
    }
    throw new Error(`slot ${slot} did not empty`)
  })
  for (const m of [dst, src, ...masters.filter((x) => x !== src && x !== dst)]) {
    await withRedisNode(m.address, (r) => r.call('CLUSTER', 'SETSLOT', String(slot), 'NODE', dst.redisId))
  }
}

/**
 * crashAndRestart SIGKILLs the server at `address` of `cluster` and starts it again with the same
 * files (killAndRestartServer), tracked by the process reaper; `serverArgs` as the cluster was
 * started with. Returns once it reports `cluster_state:ok` again (a master that rejoins refuses
 * queries for a moment: CLUSTERDOWN), 20 s bound.
 */
export async function crashAndRestart(cluster: RealRedisCluster, address: string, serverArgs?: readonly string[]): Promise<void> {
  const s = cluster.servers.find((x) => x.address === address)
  if (!s) throw new Error(`no server at ${address} in the test cluster`)
  await killAndRestartServer(s, {serverArgs, onSpawn: trackPid, onExit: untrackPid})
  const deadline = Date.now() + 20_000
  while (!String(await withRedisNode(address, (r) => r.call('CLUSTER', 'INFO')).catch(() => '')).includes('cluster_state:ok')) {
    if (Date.now() > deadline) throw new Error(`${address} did not report cluster_state:ok within 20 s of its restart`)
    await new Promise((res) => setTimeout(res, 100))
  }
}
