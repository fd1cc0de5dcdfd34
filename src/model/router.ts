import {z} from 'zod'

/**
 * RouterRegistrationSchema: the leased `routers/<id>` value. `mapRevision` is the etcd
 * revision up to which the router has applied shard-map changes; since shard changes are
 * applied in revision order, a router at mapRevision >= R has seen every shard epoch
 * written at or before R. The executor's barrier waits on it. Extra fields are allowed.
 */
export const RouterRegistrationSchema = z
  .object({
    id: z.string(),
    address: z.string(),
    mapRevision: z.string().regex(/^\d+$/),
  })
  .passthrough()

/** RouterRegistration is a validated router registration. */
export type RouterRegistration = z.infer<typeof RouterRegistrationSchema>
