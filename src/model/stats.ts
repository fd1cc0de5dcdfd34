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

/** NodeStatsSchema: the leased `stats/<node>` value a node publishes every few seconds. */
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
