import {z} from 'zod'
import {NodeIdSchema, ShardIdSchema} from './ids.js'

const rate = z.number().finite().nonnegative()

/** ShardLoadSchema: one replica's load on one node: ops/s (EWMA), bytes and keys stored. */
export const ShardLoadSchema = z.object({
  shard: ShardIdSchema,
  reads: rate,
  writes: rate,
  bytes: rate,
  keys: rate,
  /**
   * keySample: key hashes of a uniform sample of the replica's recent requests, sorted (a
   * hash once per sampled request, at most 64); published for a node's busiest shards only.
   * The planner splits a hot shard where this load halves, and names a key too hot to split.
   */
  keySample: z.array(z.number().int().min(0).max(2 ** 32 - 1)).max(64).optional(),
})

/** ShardLoad is a validated per-replica load figure. */
export type ShardLoad = z.infer<typeof ShardLoadSchema>

/**
 * NodeStatsSchema: a node's published load as readers assemble it: its `stats/<node>` summary
 * with the replicas of its `loads/<node>/<page>` records (see src/stats/statsPages.ts). It is
 * not stored as one value: at 100k+ replicas it would exceed etcd's request size limit.
 */
export const NodeStatsSchema = z.object({
  node: NodeIdSchema,
  at: z.string(),
  shards: z.array(ShardLoadSchema),
  /** clockOffsetMs is the node's measured clock offset from its peers (positive: ahead); null when unmeasured. */
  clockOffsetMs: z.number().nullable().optional(),
  /** clockOk is false while that offset is beyond the cluster's bound (the node refuses writes). */
  clockOk: z.boolean().optional(),
})

/** NodeStats is a validated stats record. */
export type NodeStats = z.infer<typeof NodeStatsSchema>

const count = z.number().int().nonnegative()

/**
 * NodeStatsSummarySchema: the leased `stats/<node>` value a node publishes every few seconds:
 * its load summed over the replicas it holds, and how many `loads/<node>/<page>` records beside
 * it carry the per-replica figures. Small whatever the node holds, so status views read it
 * without reading every replica's load.
 */
export const NodeStatsSummarySchema = z.object({
  node: NodeIdSchema,
  at: z.string(),
  /** replicas is how many replicas the node reported load for. */
  replicas: count,
  reads: rate,
  writes: rate,
  bytes: rate,
  keys: rate,
  /** pages is how many load pages this publish wrote (pages numbered from it on are stale and ignored). */
  pages: count,
  clockOffsetMs: z.number().nullable().optional(),
  clockOk: z.boolean().optional(),
})

/** NodeStatsSummary is a validated per-node stats summary. */
export type NodeStatsSummary = z.infer<typeof NodeStatsSummarySchema>

/** ShardLoadPageSchema: one leased `loads/<node>/<page>` value: a slice of the node's per-replica load, in shard order. */
export const ShardLoadPageSchema = z.object({
  node: NodeIdSchema,
  at: z.string(),
  page: count,
  shards: z.array(ShardLoadSchema),
})

/** ShardLoadPage is a validated load page. */
export type ShardLoadPage = z.infer<typeof ShardLoadPageSchema>
