import {z} from 'zod'
import {NodeIdSchema, ShardIdSchema} from './ids.js'

/**
 * MOVE_PHASES, in order, from ARCHITECTURE.md "The move". A phase is persisted in etcd
 * (with any shard-map change it implies, in one fenced transaction) before its side
 * effects run, so a restarted executor resumes by re-running the side effects of the
 * phase it finds — every one of them is idempotent.
 *
 * pending → checked → joining → copying → verifying → cutover → release → draining →
 * cleanup → done; `aborting` → aborted (before cutover only); `skipped` (stale plan);
 * `failed` (an abort that could not complete: needs an operator). A rollback requested
 * after cutover, while the source still has its copy: [rb-joining →] rb-cutover →
 * rolledback (the source is caught up from the destination by digest repair, reads flip
 * back, the destination leaves).
 */
export const MOVE_PHASES = ['pending', 'checked', 'joining', 'copying', 'verifying', 'cutover', 'release', 'draining', 'cleanup', 'done', 'aborting', 'aborted', 'skipped', 'failed', 'rb-joining', 'rb-cutover', 'rolledback'] as const

/** MovePhase is one of {@link MOVE_PHASES}. */
export type MovePhase = (typeof MOVE_PHASES)[number]

/** TERMINAL_PHASES end a move; nothing more happens to it. */
export const TERMINAL_PHASES: ReadonlySet<MovePhase> = new Set(['done', 'aborted', 'skipped', 'failed', 'rolledback'])

/** isTerminal tells whether a move has finished (successfully or not). */
export function isTerminal(phase: MovePhase): boolean {
  return TERMINAL_PHASES.has(phase)
}

/** MoveProgressSchema: copy progress, written a few times per second at most. */
export const MoveProgressSchema = z.object({
  bytes: z.number().nonnegative(),
  keys: z.number().nonnegative(),
  /** totalBytes is the planned size (from load stats), for ETA; 0 when unknown. */
  totalBytes: z.number().nonnegative(),
  rateBytesPerSec: z.number().nonnegative(),
  /** cursor resumes the copy after the last chunk applied to the destination. */
  cursor: z.string().nullable(),
  /** stalled is set when the copy stayed under its stall threshold for 30 s: 0.1 MiB/s, or a quarter of the move's throttle share when that is lower. */
  stalled: z.boolean(),
})

/** MoveProgress is validated copy progress. */
export type MoveProgress = z.infer<typeof MoveProgressSchema>

/** MoveSchema: a `moves/<id>` value: one replica replacement, its phase, epochs and progress. */
export const MoveSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,160}$/),
  plan: z.string(),
  /** index is the action's position in its plan (moves of one plan start in this order). */
  index: z.number().int().nonnegative(),
  shard: ShardIdSchema,
  from: NodeIdSchema,
  to: NodeIdSchema,
  /** baseEpoch is the shard epoch the plan was computed against. */
  baseEpoch: z.number().int().min(1),
  /** epoch is the shard epoch this move last set (baseEpoch until joining). */
  epoch: z.number().int().min(1),
  phase: z.enum(MOVE_PHASES),
  progress: MoveProgressSchema,
  /** cancelRequested: `moves cancel` asks a running executor to abort (honoured only before cutover). */
  cancelRequested: z.boolean(),
  /** rollbackRequested: `moves rollback` asks the executor to flip back (honoured after cutover, before cleanup). */
  rollbackRequested: z.boolean().default(false),
  /** reason explains a skipped, aborted or failed move, or the last retriable error of a running one. */
  reason: z.string().nullable(),
  attempts: z.number().int().nonnegative(),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** cutoverAt is when the move flipped reads to the destination (for the rollback grace). */
  cutoverAt: z.string().nullable(),
  /** copyStartedAt (ms) bounds verification: records newer than it reached both sides by dual writes. */
  copyStartedAt: z.number().nullable(),
})

/** Move is a validated move record. */
export type Move = z.infer<typeof MoveSchema>
