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
})

/** ClusterMeta is a validated `meta` value. */
export type ClusterMeta = z.infer<typeof ClusterMetaSchema>
