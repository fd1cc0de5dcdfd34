import {z} from 'zod'
import {HASH_SPACE} from './hash.js'
import {NodeIdSchema, ShardIdSchema} from './ids.js'

/**
 * REPLICA_ROLES, following the move protocol (docs/moves.md):
 * - `voter`: read and written; part of the shard's replica set.
 * - `learning`: a move's destination while it is filled: written, but its answer is not
 *   awaited and does not count towards any quorum, not read. It becomes `joining` (a new
 *   epoch, with a barrier) before verification carries over what it missed.
 * - `joining`: a move's destination before cutover: written (joint quorum), not read.
 * - `outgoing`: a move's source after cutover: still written (joint quorum), not read.
 * - `leaving`: a move's source after release: neither read nor written; awaiting cleanup.
 */
export const REPLICA_ROLES = ['voter', 'learning', 'joining', 'outgoing', 'leaving'] as const

/** ReplicaRole is one of {@link REPLICA_ROLES}. */
export type ReplicaRole = (typeof REPLICA_ROLES)[number]

export const ReplicaSchema = z.object({
  node: NodeIdSchema,
  role: z.enum(REPLICA_ROLES),
})

/** Replica is one copy of a shard on a node, with its role. */
export type Replica = z.infer<typeof ReplicaSchema>

export const HashRangeSchema = z
  .object({
    lo: z.number().int().min(0).max(HASH_SPACE - 1),
    hi: z.number().int().min(1).max(HASH_SPACE),
  })
  .refine((r) => r.lo < r.hi, 'range lo must be below hi')

/** ShardSchema: a `shards/<id>` value. `epoch` increases on every change of the shard. */
export const ShardSchema = z
  .object({
    id: ShardIdSchema,
    range: HashRangeSchema,
    epoch: z.number().int().min(1),
    replicas: z.array(ReplicaSchema).min(1),
  })
  .refine((s) => new Set(s.replicas.map((r) => r.node)).size === s.replicas.length, 'a shard lists the same node twice')

/** Shard is a validated shard record. */
export type Shard = z.infer<typeof ShardSchema>

/** readReplicas are the nodes a read of `shard` goes to (voters only). */
export function readReplicas(shard: Shard): string[] {
  return shard.replicas.filter((r) => r.role === 'voter').map((r) => r.node)
}

/** writeReplicas are the nodes a write of `shard` goes to (all but leaving). */
export function writeReplicas(shard: Shard): string[] {
  return shard.replicas.filter((r) => r.role !== 'leaving').map((r) => r.node)
}
