/**
 * The move bench's figures read off two scrapes of its processes' /metrics (bench/move.ts):
 * what happened between them, formatted for its table. Pure: no I/O.
 */
import {histogramBetween, histogramSumBetween, quantileBound, total} from './promHistogram.js'

/** Scrape is the /metrics text of each scraped process by name ('' when the scrape failed). */
export type Scrape = Record<string, string>

/**
 * stageP99s says where a slow client operation spends its time: for each stage a client
 * request passes (the router's whole request, the router's request to each node, each
 * node's handling of it, the destination writer thread's group commits), the bucket bound
 * under which 99 % of that stage's requests in each window fell, before vs during the copy.
 * A node's request time minus its commit time is the wait in its event loop and writer queue.
 */
export function stageP99s(src: string, dst: string, before: [Scrape, Scrape], during: [Scrape, Scrape]): string {
  const stages: [string, string, string, Record<string, string>][] = [
    ['router PUT', 'router', 'shardctl_router_request_duration_seconds', {method: 'PUT'}],
    ['router GET', 'router', 'shardctl_router_request_duration_seconds', {method: 'GET'}],
    [`router→${src} apply`, 'router', 'shardctl_router_upstream_request_duration_seconds', {node: src, op: 'apply'}],
    [`router→${dst} apply`, 'router', 'shardctl_router_upstream_request_duration_seconds', {node: dst, op: 'apply'}],
    [`router→${src} get`, 'router', 'shardctl_router_upstream_request_duration_seconds', {node: src, op: 'get'}],
    [`${src} apply`, 'src', 'shardctl_node_request_duration_seconds', {op: 'apply'}],
    [`${dst} apply`, 'dst', 'shardctl_node_request_duration_seconds', {op: 'apply'}],
    [`${src} get`, 'src', 'shardctl_node_request_duration_seconds', {op: 'get'}],
    [`${src} commit group`, 'src', 'shardctl_node_commit_duration_seconds', {kind: 'group'}],
    [`${dst} commit group`, 'dst', 'shardctl_node_commit_duration_seconds', {kind: 'group'}],
    [`${dst} commit copy`, 'dst', 'shardctl_node_commit_duration_seconds', {kind: 'copy'}],
  ]
  /** p99In is the stage's p99 bucket bound in the window, in ms: '-' with no requests, '>N' past the largest bucket N. */
  const p99In = ([from, to]: [Scrape, Scrape], who: string, name: string, labels: Record<string, string>): string => {
    const window = histogramBetween(from[who] ?? '', to[who] ?? '', name, labels)
    if (!window) return '-'
    const b = quantileBound(window, 0.99)
    if (Number.isNaN(b)) return '-'
    return Number.isFinite(b) ? `${Math.round(b * 1000)}` : `>${Math.round((window.le.at(-2) ?? 0) * 1000)}`
  }
  return stages.map(([what, who, name, labels]) => `${what} ${p99In(before, who, name, labels)}→${p99In(during, who, name, labels)}`).join('; ') + ' (ms)'
}

/**
 * walWaitsDuring says how often the destination's copy commits waited for its WAL to restart
 * during the copy (StorageEngine.walRoom: once the WAL is about 64 MiB long), by outcome,
 * with the time they waited in all and the bucket bound of the longest: `restarted 7 (1.20 s in all, longest <= 250 ms), gave-up 0`.
 */
export function walWaitsDuring([from, to]: [Scrape, Scrape]): string {
  const name = 'shardctl_node_copy_wal_wait_duration_seconds'
  return (['restarted', 'gave-up'] as const)
    .map((outcome) => {
      const b = histogramBetween(from.dst ?? '', to.dst ?? '', name, {outcome})
      const n = b ? total(b) : 0
      if (!b || n === 0) return `${outcome} 0`
      const longest = quantileBound(b, 1)
      const seconds = histogramSumBetween(from.dst ?? '', to.dst ?? '', name, {outcome})
      return `${outcome} ${n} (${seconds === undefined ? '' : `${seconds.toFixed(2)} s in all, `}longest ${Number.isFinite(longest) ? `<= ${Math.round(longest * 1000)} ms` : `> ${Math.round((b.le.at(-2) ?? 0) * 1000)} ms`})`
    })
    .join(', ')
}
