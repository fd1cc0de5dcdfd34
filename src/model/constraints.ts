import {z} from 'zod'
import {NodeIdSchema, ShardIdSchema} from './ids.js'

/**
 * PlacementConstraintSchema: `pin` keeps a replica of the shard on the node (the planner
 * never moves it off); `forbid` keeps every replica of the shard off the node.
 */
export const PlacementConstraintSchema = z.object({
  kind: z.enum(['pin', 'forbid']),
  shard: ShardIdSchema,
  node: NodeIdSchema,
})

/** PlacementConstraint is a validated constraint. */
export type PlacementConstraint = z.infer<typeof PlacementConstraintSchema>

/** ConstraintsSchema: the `constraints` key holds the whole list. */
export const ConstraintsSchema = z.object({items: z.array(PlacementConstraintSchema)})
