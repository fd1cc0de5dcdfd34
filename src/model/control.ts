import {z} from 'zod'

/** ControlSchema: the `control` key; operators change it and a running executor follows within a second. */
export const ControlSchema = z.object({
  paused: z.boolean(),
  throttleBytesPerSec: z.number().positive().nullable(),
  updatedAt: z.string(),
})

/** Control is a validated control record. */
export type Control = z.infer<typeof ControlSchema>
