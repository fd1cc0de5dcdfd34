import {z} from 'zod'
import {HASH_NAME} from './hash.js'
import {ClusterNameSchema, ShardIdSchema} from './ids.js'

/** ClusterMetaSchema: the `meta` key; written once by `cluster init`, `nextShardId` grows on splits. */
export const ClusterMetaSchema = z.object({
  version: z.literal(1),
  name: ClusterNameSchema,
  rf: z.number().int().min(1).max(7),
  hash: z.literal(HASH_NAME),
  createdAt: z.string(),
  nextShardId: ShardIdSchema,
})

/** ClusterMeta is a validated `meta` value. */
export type ClusterMeta = z.infer<typeof ClusterMetaSchema>
