import {z} from 'zod'
import {NodeIdSchema, ShardIdSchema} from './ids.js'

/**
 * MOVE_PHASES, in order, from ARCHITECTURE.md "The move". Each is persisted in etcd
 * before its side effects, so a restarted executor resumes from the last one.
 */
export const MOVE_PHASES = ['pending', 'checked', 'joining', 'barrier', 'copying', 'verifying', 'cutover', 'release', 'draining', 'done', 'aborted', 'failed', 'skipped'] as const

/** MovePhase is one of {@link MOVE_PHASES}. */
export type MovePhase = (typeof MOVE_PHASES)[number]

/** MoveSchema: a `moves/<id>` value: one replica replacement and its progress. */
export const MoveSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/),
  plan: z.string(),
  shard: ShardIdSchema,
  from: NodeIdSchema,
  to: NodeIdSchema,
  baseEpoch: z.number().int().min(1),
  phase: z.enum(MOVE_PHASES),
  progress: z.object({
    bytes: z.number().nonnegative(),
    keys: z.number().nonnegative(),
    totalBytes: z.number().nonnegative(),
    rateBytesPerSec: z.number().nonnegative(),
  }),
  reason: z.string().optional(),
  updatedAt: z.string(),
})

/** Move is a validated move record. */
export type Move = z.infer<typeof MoveSchema>
