import {z} from 'zod'

/** ControlSchema: the `control` key; operators change it and a running executor follows within a second. */
export const ControlSchema = z.object({
  paused: z.boolean(),
  throttleBytesPerSec: z.number().positive().nullable(),
  /** throttleKeysPerSec is the redis engine's live keys/s per move (null or absent: the executor's --keys-per-sec). */
  throttleKeysPerSec: z.number().int().positive().nullable().optional(),
  updatedAt: z.string(),
})

/** Control is a validated control record. */
export type Control = z.infer<typeof ControlSchema>
