/**
 * When a node publishes its stats beside its `--stats-interval` timer. Pure.
 *
 * A node's published figures name the replicas it holds. Published only on the timer (every
 * 5 s by default), they went on naming replicas the map had taken off the node until the next
 * tick: `node show n3` run right after `node drain n3` said it was done showed "104 KiB in 52
 * keys over 2 replicas", published 2.5 s before the drain's last move. So a change of the
 * replicas the node holds is published as soon as the node sees it, paced so that a node whose
 * publish is costly (sizing 25k replicas and writing their load pages takes about 0.3 s of CPU)
 * is not kept publishing by a long rebalance.
 */

/** EARLY_PUBLISH_MIN_GAP_MS is the least time from the start of one publish to the start of an early one. */
export const EARLY_PUBLISH_MIN_GAP_MS = 250

/** EARLY_PUBLISH_COST_FACTOR: an early publish waits this many times as long as the last publish took, so early publishes spend at most about a tenth of the node's time. */
export const EARLY_PUBLISH_COST_FACTOR = 10

/** LastPublish is when the node's last stats publish started and how long it took. */
export interface LastPublish {
  startedAt: number
  tookMs: number
}

/**
 * earlyPublishAt is the earliest time a publish asked for because the node's replicas changed
 * may start: {@link EARLY_PUBLISH_MIN_GAP_MS}, or {@link EARLY_PUBLISH_COST_FACTOR} times the
 * last publish's duration, after the last one started, but never later than the timer's own
 * next publish would be (`intervalMs` after it). At once when the node has not published yet.
 */
export function earlyPublishAt(last: LastPublish | undefined, intervalMs: number): number {
  if (!last) return Number.NEGATIVE_INFINITY
  const gap = Math.min(intervalMs, Math.max(EARLY_PUBLISH_MIN_GAP_MS, EARLY_PUBLISH_COST_FACTOR * last.tookMs))
  return last.startedAt + gap
}

/** sameShards tells whether two lists of shard ids (each in id order) name the same shards. */
export function sameShards(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i])
}
