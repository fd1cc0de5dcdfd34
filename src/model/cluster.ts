import {z} from 'zod'
import {HASH_NAME} from './hash.js'
import {ClusterNameSchema, ShardIdSchema} from './ids.js'

/**
 * ClusterMetaSchema: the `meta` key; written once by `cluster init`, `nextShardId` grows on
 * splits. `uid` is new on every init (also `--force`): a node records it in its data dir and
 * refuses a dir of another incarnation (absent in clusters created before it existed).
 */
export const ClusterMetaSchema = z.object({
  version: z.literal(1),
  name: ClusterNameSchema,
  rf: z.number().int().min(1).max(7),
  hash: z.literal(HASH_NAME),
  createdAt: z.string(),
  nextShardId: ShardIdSchema,
  uid: z
    .string()
    .regex(/^[A-Za-z0-9-]{8,64}$/)
    .optional(),
  /** engine runs the data plane: `kv` (shardctl's own nodes; absent in records made before engines existed) or `redis` (a Redis Cluster / Valkey). */
  engine: z.enum(['kv', 'redis']).optional(),
  /** redisSeed is a master's host:port the redis engine reaches the cluster through (redis engine only). */
  redisSeed: z.string().optional(),
})

/** ClusterMeta is a validated `meta` value. */
export type ClusterMeta = z.infer<typeof ClusterMetaSchema>

/** ENGINES: the data planes a cluster can run on (see docs/redis.md). */
export type Engine = 'kv' | 'redis'

/** engineOf is the cluster's engine: `kv` for records that predate engines. */
export function engineOf(meta: Pick<ClusterMeta, 'engine'>): Engine {
  return meta.engine ?? 'kv'
}
