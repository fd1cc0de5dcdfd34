import {z} from 'zod'
import {canonicalJson, sha256Hex} from './canonicalJson.js'
import {ClusterMetaSchema} from './cluster.js'
import {PlacementConstraintSchema} from './constraints.js'
import {NodeIdSchema} from './ids.js'
import {NodeSchema} from './node.js'
import {checkTiling} from './range.js'
import {type Shard, ShardSchema} from './shard.js'
import {ShardLoadSchema} from './stats.js'

/** ReplicaLoadSchema: the measured load of shard `shard`'s replica on node `node` (a node's {@link ShardLoadSchema} with the node named). */
export const ReplicaLoadSchema = z.object({node: NodeIdSchema, ...ShardLoadSchema.shape})

/** ReplicaLoad is one validated per-replica load figure. */
export type ReplicaLoad = z.infer<typeof ReplicaLoadSchema>

/**
 * ClusterSnapshotSchema: everything the planner needs, as one JSON document
 * (`snapshot export`). `revision` is the etcd revision it was read at ("0" when made by
 * hand) and `fingerprint` the {@link shardMapFingerprint} of `shards`. Cross-references
 * (replica nodes exist, loads name real replicas, ranges tile the hash space) are checked.
 */
export const ClusterSnapshotSchema = z
  .object({
    version: z.literal(1),
    cluster: ClusterMetaSchema,
    revision: z.string().regex(/^\d+$/, 'revision must be a decimal etcd revision'),
    fingerprint: z.string().regex(/^[0-9a-f]{64}$/, 'fingerprint must be a sha256 hex digest'),
    nodes: z.array(NodeSchema.extend({alive: z.boolean().default(true)})),
    shards: z.array(ShardSchema),
    load: z.array(ReplicaLoadSchema),
    constraints: z.array(PlacementConstraintSchema).default([]),
    /** loadSource says where an engine's load figures came from (redis: which server signal); absent for the kv engine's published stats. */
    loadSource: z
      .object({
        engine: z.literal('redis'),
        signals: z.object({keys: z.string(), bytes: z.string(), ops: z.string()}),
        /** opsByNode names, per master, the signal its ops/s were split over its shards by (slot-stats-cpu, lfu-object-freq, key-share). */
        opsByNode: z.record(NodeIdSchema, z.enum(['slot-stats-cpu', 'lfu-object-freq', 'key-share'])).optional(),
        sampleWindowMs: z.number().nonnegative(),
        bigKeys: z.array(z.object({key: z.string(), node: NodeIdSchema, bytes: z.number().nonnegative()})),
      })
      .optional(),
  })
  .superRefine((snap, ctx) => {
    const nodeIds = new Set<string>()
    snap.nodes.forEach((n, i) => {
      if (nodeIds.has(n.id)) ctx.addIssue({code: 'custom', path: ['nodes', i, 'id'], message: `node "${n.id}" is listed twice`})
      nodeIds.add(n.id)
    })
    const replicaKeys = new Set<string>()
    const shardIds = new Set<number>()
    snap.shards.forEach((s, i) => {
      if (shardIds.has(s.id)) ctx.addIssue({code: 'custom', path: ['shards', i, 'id'], message: `shard ${s.id} is listed twice`})
      shardIds.add(s.id)
      s.replicas.forEach((r, j) => {
        if (!nodeIds.has(r.node)) ctx.addIssue({code: 'custom', path: ['shards', i, 'replicas', j, 'node'], message: `unknown node "${r.node}"`})
        replicaKeys.add(`${s.id}@${r.node}`)
      })
    })
    const tiling = snap.shards.length > 0 ? checkTiling(snap.shards.map((s) => s.range)) : undefined
    if (tiling) ctx.addIssue({code: 'custom', path: ['shards'], message: tiling})
    snap.load.forEach((l, i) => {
      if (!replicaKeys.has(`${l.shard}@${l.node}`)) ctx.addIssue({code: 'custom', path: ['load', i], message: `node "${l.node}" holds no replica of shard ${l.shard}`})
    })
    snap.constraints.forEach((c, i) => {
      if (!shardIds.has(c.shard)) ctx.addIssue({code: 'custom', path: ['constraints', i, 'shard'], message: `unknown shard ${c.shard}`})
      if (!nodeIds.has(c.node)) ctx.addIssue({code: 'custom', path: ['constraints', i, 'node'], message: `unknown node "${c.node}"`})
    })
  })

/** ClusterSnapshot is a validated snapshot. */
export type ClusterSnapshot = z.infer<typeof ClusterSnapshotSchema>

/**
 * shardMapFingerprint is the sha256 of the canonical shard map (id, range, epoch, replicas
 * with roles, in id order). Any change to any shard changes it; plans record it.
 */
export function shardMapFingerprint(shards: readonly Shard[]): string {
  const canonical = [...shards]
    .sort((a, b) => a.id - b.id)
    .map((s) => ({id: s.id, range: s.range, epoch: s.epoch, replicas: s.replicas.map((r) => [r.node, r.role])}))
  return sha256Hex(canonicalJson(canonical))
}
