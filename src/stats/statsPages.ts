import {type NodeStats, type NodeStatsSummary, type ShardLoad, type ShardLoadPage} from '../model/stats.js'

/**
 * STATS_PAGE_BYTES bounds one `loads/<node>/<page>` value. etcd refuses a request over
 * 1.5 MiB (--max-request-bytes); one node's per-replica load is ~56 B a replica, so a single
 * record passed 1.4 MB at 25k replicas. A quarter of a MiB keeps each put far below the limit
 * and small enough that a watcher or a reader never holds a big value at once.
 */
export const STATS_PAGE_BYTES = 256 * 1024

/** PublishedStats is what a node writes for one publish: the summary and its load pages, serialised. */
export interface PublishedStats {
  summary: NodeStatsSummary
  /** pages are the JSON values of `loads/<node>/0000`, `…/0001`, …, each at most the page budget (a lone replica bigger than it gets a page of its own). */
  pages: string[]
}

/**
 * splitNodeStats turns a node's stats into a summary (load summed over every replica) and
 * pages of per-replica load, each page's JSON at most `maxPageBytes` bytes, replicas kept in
 * the order given. Pure.
 */
export function splitNodeStats(stats: NodeStats, maxPageBytes = STATS_PAGE_BYTES): PublishedStats {
  const totals = {reads: 0, writes: 0, bytes: 0, keys: 0}
  const pages: string[] = []
  let entries: string[] = []
  let size = 0
  const head = (page: number): string => `{"node":${JSON.stringify(stats.node)},"at":${JSON.stringify(stats.at)},"page":${page},"shards":[`
  const flush = (): void => {
    pages.push(`${head(pages.length)}${entries.join(',')}]}`)
    entries = []
  }
  for (const load of stats.shards) {
    totals.reads += load.reads
    totals.writes += load.writes
    totals.bytes += load.bytes
    totals.keys += load.keys
    const entry = JSON.stringify(load)
    // Sizes are measured in UTF-16 units: every character here is ASCII (ids, numbers, an ISO date), so that is bytes.
    if (entries.length > 0 && head(pages.length).length + size + entries.length + entry.length + 2 > maxPageBytes) {
      flush()
      size = 0
    }
    entries.push(entry)
    size += entry.length
  }
  if (entries.length > 0) flush()
  const summary: NodeStatsSummary = {node: stats.node, at: stats.at, replicas: stats.shards.length, ...totals, pages: pages.length}
  if (stats.clockOffsetMs !== undefined) summary.clockOffsetMs = stats.clockOffsetMs
  if (stats.clockOk !== undefined) summary.clockOk = stats.clockOk
  return {summary, pages}
}

/**
 * joinNodeStats assembles a node's stats from its summary and the load pages read beside it.
 * Pages from `summary.pages` on are left-overs of an earlier, longer publish and are ignored.
 * Pages are written one put each, so a reader between two publishes may see pages of both:
 * each replica's figure is still one the node published, a replica listed twice keeps its
 * first figure, and one that moved between pages may be missing from this read (readers
 * estimate missing load, as for a node that has not published yet). Pure.
 */
export function joinNodeStats(summary: NodeStatsSummary, pages: readonly ShardLoadPage[]): NodeStats {
  const seen = new Set<number>()
  const shards: ShardLoad[] = []
  for (const page of [...pages].filter((p) => p.node === summary.node && p.page < summary.pages).sort((a, b) => a.page - b.page)) {
    for (const load of page.shards) {
      if (seen.has(load.shard)) continue
      seen.add(load.shard)
      shards.push(load)
    }
  }
  const stats: NodeStats = {node: summary.node, at: summary.at, shards}
  if (summary.clockOffsetMs !== undefined) stats.clockOffsetMs = summary.clockOffsetMs
  if (summary.clockOk !== undefined) stats.clockOk = summary.clockOk
  return stats
}
