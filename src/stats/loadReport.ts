import {abortableSleep} from '../clock/abortableSleep.js'
import {getMeta, listAlive, listNodes, listShards, listStats} from '../cluster/clusterRepo.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {watchPrefix} from '../etcd/resumableWatch.js'
import {loadPredatesMap} from '../cluster/loadStaleness.js'
import {type ClusterNode} from '../model/node.js'
import {type Shard} from '../model/shard.js'
import {type NodeStats} from '../model/stats.js'

/** NodeLoad is one node's row: its published load summed over its replicas. */
export interface NodeLoad {
  node: string
  alive: boolean
  /** reporting is false when the node has no live stats key (down, or not started yet). */
  reporting: boolean
  /** replicas is how many replicas (any role) the shard map gives the node now. */
  replicas: number
  /** reportedReplicas is how many replicas the node's last publish summed (0 when not reporting). */
  reportedReplicas: number
  reads: number
  writes: number
  bytes: number
  keys: number
  /**
   * stale: the figures predate the shard map's latest change for this node (the publish summed
   * another number of replicas than `replicas`: right after a drain or a move the node may still
   * count replicas it no longer holds; it publishes again once it sees the change). The same
   * verdict as `node show`, `cluster status` and `top` (loadPredatesMap). False when not reporting.
   */
  stale: boolean
  /** at is when the node last published (ISO), or null. */
  at: string | null
}

/**
 * ShardLoad is one shard's row. Every replica sees every write, so `writes`, `bytes` and
 * `keys` are the largest replica's figure; reads are spread over replicas and summed.
 */
export interface ShardLoadRow {
  shard: number
  epoch: number
  replicas: string[]
  reads: number
  writes: number
  bytes: number
  keys: number
  /** reporting is how many of its replicas published a figure for it. */
  reporting: number
}

/** LoadReport is what `shardctl stats` shows; stable with --json. */
export interface LoadReport {
  cluster: string
  at: string
  nodes: NodeLoad[]
  shards: ShardLoadRow[]
  totals: {reads: number; writes: number; bytes: number; keys: number}
}

/**
 * buildLoadReport joins the node records, the shard map, liveness and the nodes' leased
 * stats into per-node and per-shard load. Pure: tests give it fixtures.
 */
export function buildLoadReport(cluster: string, at: Date, nodes: readonly ClusterNode[], shards: readonly Shard[], stats: readonly NodeStats[], alive: ReadonlySet<string>): LoadReport {
  const statsByNode = new Map(stats.map((s) => [s.node, s]))
  const replicaCount = new Map<string, number>()
  for (const s of shards) for (const r of s.replicas) replicaCount.set(r.node, (replicaCount.get(r.node) ?? 0) + 1)
  const nodeRows: NodeLoad[] = nodes.map((n) => {
    const st = statsByNode.get(n.id)
    const sum = (f: 'reads' | 'writes' | 'bytes' | 'keys') => st?.shards.reduce((a, l) => a + l[f], 0) ?? 0
    const replicas = replicaCount.get(n.id) ?? 0
    const reportedReplicas = st?.shards.length ?? 0
    return {node: n.id, alive: alive.has(n.id), reporting: st !== undefined, replicas, reportedReplicas, reads: sum('reads'), writes: sum('writes'), bytes: sum('bytes'), keys: sum('keys'), stale: st !== undefined && loadPredatesMap(reportedReplicas, replicas), at: st?.at ?? null}
  })
  const shardRows: ShardLoadRow[] = shards.map((s) => {
    const row: ShardLoadRow = {shard: s.id, epoch: s.epoch, replicas: s.replicas.map((r) => (r.role === 'voter' ? r.node : `${r.node}(${r.role})`)), reads: 0, writes: 0, bytes: 0, keys: 0, reporting: 0}
    for (const r of s.replicas) {
      const l = statsByNode.get(r.node)?.shards.find((x) => x.shard === s.id)
      if (!l) continue
      row.reporting++
      row.reads += l.reads
      row.writes = Math.max(row.writes, l.writes)
      row.bytes = Math.max(row.bytes, l.bytes)
      row.keys = Math.max(row.keys, l.keys)
    }
    return row
  })
  const totals = shardRows.reduce((a, r) => ({reads: a.reads + r.reads, writes: a.writes + r.writes, bytes: a.bytes + r.bytes, keys: a.keys + r.keys}), {reads: 0, writes: 0, bytes: 0, keys: 0})
  return {cluster, at: at.toISOString(), nodes: nodeRows, shards: shardRows, totals}
}

/**
 * loadReport reads nodes, shards, liveness and stats from etcd and builds the report. Throws
 * NOT_FOUND for a cluster that does not exist (a mistyped --cluster is not an empty cluster).
 */
export async function loadReport(ctx: ServiceContext): Promise<LoadReport> {
  const [, report] = await Promise.all([getMeta(ctx), readLoadReport(ctx)])
  return report
}

/** readLoadReport is loadReport without the check that the cluster exists (the watch checks once, before it starts). */
async function readLoadReport(ctx: ServiceContext): Promise<LoadReport> {
  const [nodes, {shards}, stats, alive] = await Promise.all([listNodes(ctx), listShards(ctx), listStats(ctx), listAlive(ctx)])
  return buildLoadReport(
    ctx.cluster,
    ctx.clock(),
    nodes.map((n) => n.value),
    shards.map((s) => s.value),
    stats,
    alive,
  )
}

/** WatchLoadOptions bound a `stats --watch` run. */
export interface WatchLoadOptions {
  /** minIntervalMs: at most one report per interval however many events arrive. */
  minIntervalMs: number
  /** signal stops the watch (SIGINT, --for deadline). */
  signal: AbortSignal
  /** maxReports stops after this many reports (bounded runs in tests and scripts). */
  maxReports?: number
}

/**
 * watchLoadReport emits a report now and again after changes under stats/, loads/, shards/,
 * nodes/ or alive/ (level-based: each report is a fresh read, so a missed event only
 * delays), at most once per `minIntervalMs`, until `signal` aborts or `maxReports` were
 * emitted. Resolves with the number of reports emitted.
 */
export async function watchLoadReport(ctx: ServiceContext, onReport: (r: LoadReport) => void, opts: WatchLoadOptions): Promise<number> {
  let emitted = 0
  let dirty = true
  let wake: (() => void) | undefined
  const poke = () => {
    dirty = true
    wake?.()
  }
  await getMeta(ctx)
  const revision = await ctx.store.revision()
  const watch = watchPrefix(ctx.store, ctx.keys.prefix, {
    fromRevision: revision,
    onEvent: (ev) => {
      const rest = ev.key.slice(ctx.keys.prefix.length)
      if (/^(stats|loads|shards|nodes|alive)\//.test(rest)) poke()
    },
    resync: async () => {
      poke()
      return ctx.store.revision()
    },
  })
  const onAbort = () => wake?.()
  opts.signal.addEventListener('abort', onAbort)
  try {
    while (!opts.signal.aborted && (opts.maxReports === undefined || emitted < opts.maxReports)) {
      if (dirty) {
        dirty = false
        onReport(await readLoadReport(ctx))
        emitted++
        await sleep(opts.minIntervalMs, opts.signal)
        continue
      }
      await new Promise<void>((resolve) => {
        wake = resolve
        if (dirty || opts.signal.aborted) resolve()
      })
      wake = undefined
    }
  } finally {
    opts.signal.removeEventListener('abort', onAbort)
    await watch.close()
  }
  return emitted
}

const sleep = abortableSleep
