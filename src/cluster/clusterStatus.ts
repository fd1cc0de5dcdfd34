import {etcdVersionReport, type EtcdVersionReport} from '../etcd/etcdVersionCheck.js'
import {parseLockHolder} from '../etcd/leaseLock.js'
import {type ClusterMeta, engineOf} from '../model/cluster.js'
import {type RedisTrouble} from '../redis/redisTrouble.js'
import {type Control} from '../model/control.js'
import {lossWarnings, PHASE_TABLE} from '../model/move.js'
import {listMoves} from '../executor/moveStore.js'
import {type WriteFloor} from '../model/writeFloor.js'
import {readWriteFloorKey} from './writeFloorRead.js'
import {listRouters} from '../router/routerRegistration.js'
import {getControl, getMeta, listNodes, listStatsSummaries} from './clusterRepo.js'
import {listLiveNodes} from './engineLiveness.js'
import {loadPredatesMap} from './loadStaleness.js'
import {underReplicatedLive} from './censusCounts.js'
import {foldCensusIfDue, shardCounts} from './shardCensus.js'
import {replicaCensus} from './shardScan.js'
import {type ServiceContext} from './serviceContext.js'

/** NodeStatus is one node's line in `cluster status`. */
export interface NodeStatus {
  id: string
  address: string
  zone: string
  state: string
  alive: boolean
  replicas: number
  /** load is what the node last published (null while it publishes nothing); see NodeStatusLoad. */
  load: NodeStatusLoad | null
  /** clock is the node's measured offset from its peers (ms, positive: ahead) and whether it is within the bound; null before it published one. */
  clock: MemberClock | null
}

/**
 * NodeStatusLoad is a node's published load in `cluster status`: summed over `replicas`, the
 * replicas the node held when it published. `stale`, as in `node show`, is true when those
 * figures predate the shard map's latest change for the node: they name another number of
 * replicas than the map gives it now (NodeStatus.replicas), as right after a drain or a move it
 * has not published since (it does as soon as it sees the change). See loadPredatesMap.
 */
export interface NodeStatusLoad {
  replicas: number
  reads: number
  writes: number
  bytes: number
  keys: number
  stale: boolean
}

/** MemberClock is a member's self-reported clock offset and verdict (see ClockMonitor). */
export interface MemberClock {
  offsetMs: number | null
  ok: boolean
}

/** RouterStatus is one live router's line in `cluster status`. */
export interface RouterStatus {
  id: string
  address: string
  clock: MemberClock | null
}

/** ClusterStatus is what `cluster status` shows; stable with --json. */
export interface ClusterStatus {
  cluster: string
  endpoints: string[]
  meta: ClusterMeta
  revision: string
  shards: number
  /** shardStates: `moving` shards have a move in flight; `underReplicated` ones have fewer voters on live nodes than rf. */
  shardStates: {stable: number; moving: number; underReplicated: number}
  nodes: NodeStatus[]
  nodesUp: number
  nodesDown: number
  routers: RouterStatus[]
  executor: {holder: string; since: string} | null
  control: Control
  /** etcd is the version of the etcd member answering and the known bugs it has (etcdKnownBugs.ts); null when not known (no server, an unreadable version, or etcd refused to say: the status is shown without it). */
  etcd: EtcdVersionReport | null
  /**
   * redis is a Redis Cluster's trouble, from every live master's own CLUSTER NODES view: slots
   * left open, masters failed or failed over, slots no live master serves (or two serve), and
   * recorded shards Redis serves elsewhere, each with its way out (see redisTrouble); null on kv.
   */
  redis: RedisTrouble | null
  /**
   * writeFloor is the smallest write quorum any router has run with (src/model/writeFloor.ts);
   * null when absent or unreadable (a cluster from before it existed), which counts as w = 1.
   */
  writeFloor: WriteFloor | null
  /**
   * writeFloorUnreadable is true when the key exists but does not parse (writeFloor is then null
   * too): not a cluster that predates the floor, and `adopt` refuses it until it is deleted.
   */
  writeFloorUnreadable: boolean
  /**
   * lossWarnings (kv) are the moves' warnings of possible data loss no operator acknowledged
   * yet (model/move.ts lossWarnings; a move that went on without its abandoned source, say:
   * src/model/moveLossWarning.ts), any phase, `done` included; empty on redis, whose `redis`
   * trouble lists its own. Each stays until `moves ack`.
   */
  lossWarnings: {move: string; shard: number; phase: string; at: string; text: string}[]
  /**
   * waitingMoves (kv) are the unfinished moves that wait for a node that is down, as the executor last recorded it
   * (Move.waitingFor: what it waits for and the command that ends the wait), since when; empty on redis.
   */
  waitingMoves: {move: string; shard: number; phase: string; since: string; text: string}[]
}

/**
 * clusterStatus gathers the cluster's meta, nodes (with liveness, replica counts, load), shards
 * and executor state. Shard counts come from the stored census, never a read of every shard
 * (unless the cluster predates the census: see {@link shardCounts}). The census knows no
 * liveness, so while a node that holds replicas is down, under-replicated shards are counted
 * on live voters (what `top` and the autopilot count: a dead node's voters hold data nobody
 * can read) from the census's voter-set histogram; only a census without one (older, or
 * with more voter sets than it keeps) costs one paged read of the map.
 * Load and clock come from each node's stats summary, not its per-replica load; the load says
 * when it predates the map's latest change for the node (NodeStatusLoad.stale).
 * When more than CENSUS_FOLD_THRESHOLD census deltas are pending it folds them (best effort).
 * On a redis cluster it also reports the cluster's trouble (`redis`, see redisClusterTrouble),
 * which reads every shard and move record and each master's CLUSTER NODES (2 s bound per node);
 * on kv it reads every move record for their unacknowledged warnings of possible data loss.
 */
export async function clusterStatus(ctx: ServiceContext): Promise<ClusterStatus> {
  const meta = await getMeta(ctx)
  const [nodes, alive, census, stats, control, lock, routers, etcd, redis, floor] = await Promise.all([listNodes(ctx), listLiveNodes(ctx, meta.value), shardCounts(ctx, meta.value.rf), listStatsSummaries(ctx), getControl(ctx), ctx.store.get(ctx.keys.executorLock), listRouters(ctx), etcdVersionReport(ctx.store).catch(() => undefined), redisTroubleOf(ctx, meta.value), readWriteFloorKey(ctx)])
  // A redis cluster's trouble lists its moves' loss warnings already (redisStatus.ts).
  const kvMoves = engineOf(meta.value) === 'redis' ? [] : await listMoves(ctx)
  const losses = kvLossWarnings(kvMoves)
  const {replicasByNode: replicas, moving, revision} = census
  const statsByNode = new Map(stats.map((st) => [st.node, st]))
  const clockByNode = new Map(stats.map((st) => [st.node, st.clockOk === undefined ? null : {offsetMs: st.clockOffsetMs ?? null, ok: st.clockOk}]))
  const holder = lock ? parseLockHolder(lock.value) : undefined
  const nodeStatus: NodeStatus[] = nodes.map((n) => {
    const held = replicas.get(n.value.id) ?? 0
    const st = statsByNode.get(n.value.id)
    return {
      id: n.value.id,
      address: n.value.address,
      zone: n.value.zone,
      state: n.value.state,
      alive: alive.has(n.value.id),
      replicas: held,
      load: st ? {replicas: st.replicas, reads: st.reads, writes: st.writes, bytes: st.bytes, keys: st.keys, stale: loadPredatesMap(st.replicas, held)} : null,
      clock: clockByNode.get(n.value.id) ?? null,
    }
  })
  const up = nodeStatus.filter((n) => n.alive).length
  const downWithReplicas = nodeStatus.some((n) => !n.alive && n.replicas > 0)
  const underReplicated = downWithReplicas ? (underReplicatedLive(census, meta.value.rf, alive) ?? (await replicaCensus(ctx, meta.value.rf, undefined, alive)).underReplicated) : census.underReplicated
  // Whoever reads the census bounds it: with no executor running (one died mid-plan) nothing else folds the deltas.
  await foldCensusIfDue(ctx, census.pendingDeltas)
  return {
    cluster: ctx.cluster,
    endpoints: ctx.store.conn.endpoints,
    meta: meta.value,
    revision: revision.toString(),
    shards: census.shards,
    shardStates: {stable: census.shards - moving, moving, underReplicated},
    nodes: nodeStatus,
    nodesUp: up,
    nodesDown: nodeStatus.length - up,
    routers: routers.map((r) => ({id: r.id, address: r.address, clock: r.clockOk === undefined ? null : {offsetMs: r.clockOffsetMs ?? null, ok: r.clockOk}})),
    executor: holder ? {holder: `${holder.holder} (pid ${holder.pid} on ${holder.host})`, since: holder.acquiredAt} : lock ? {holder: 'unknown (unreadable lock value)', since: ''} : null,
    control,
    etcd: etcd ?? null,
    redis,
    writeFloor: floor.floor,
    writeFloorUnreadable: floor.unreadable,
    lossWarnings: losses,
    waitingMoves: kvMoves.flatMap((m) => (m.value.waitingFor && !PHASE_TABLE[m.value.phase].terminal ? [{move: m.value.id, shard: m.value.shard, phase: m.value.phase, ...m.value.waitingFor}] : [])),
  }
}

/** kvLossWarnings flattens the unacknowledged loss warnings of `moves` for ClusterStatus.lossWarnings. */
function kvLossWarnings(moves: Awaited<ReturnType<typeof listMoves>>): ClusterStatus['lossWarnings'] {
  return moves.flatMap((m) => lossWarnings(m.value).map((w) => ({move: m.value.id, shard: m.value.shard, phase: m.value.phase, at: w.at, text: w.text})))
}

/** redisTroubleOf is redisClusterTrouble for a redis cluster (imported only then: a kv status must not load ioredis), null for kv. */
async function redisTroubleOf(ctx: ServiceContext, meta: ClusterMeta): Promise<RedisTrouble | null> {
  if (engineOf(meta) !== 'redis') return null
  const {redisClusterTrouble} = await import('../redis/redisStatus.js')
  return redisClusterTrouble(ctx, meta)
}
