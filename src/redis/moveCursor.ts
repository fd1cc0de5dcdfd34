import {z} from 'zod'

/**
 * RedisMoveCursorSchema: where a redis-engine move stands, kept in the move record's
 * `progress.cursor` (as JSON) and written to etcd BEFORE the step it announces:
 * - `dir` `fwd` moves slots first..end-1 upwards from source to target; `back` (after a
 *   cancel) returns the slots already moved, downwards, from target to source.
 * - `next` is the slot being (or next to be) moved.
 * - `open` says a migration of `next` may have begun in Redis (IMPORTING/MIGRATING set, some
 *   keys moved, maybe even assigned): a resumed executor finishes that slot first.
 * - `srcRun` is the `run_id` (INFO server) of the master the slots leave (the source going
 *   `fwd`, the target going `back`) when the cursor was written. Another run_id on resume means
 *   that master restarted since, and may have reloaded, from a snapshot older than the
 *   migration, keys it had already migrated (see sourceRestart.ts). Absent in records written
 *   before it existed (judged by uptime then: moveSideRestart.ts unrecordedSides). '' while a
 *   restart found by uptime awaits the check of the slot left open (redisMoveRunner.ts): never a
 *   run_id, so the next run makes the same check.
 * - `dstRun` is the `run_id` of the master the slots go to (the target going `fwd`). Another
 *   one on resume means that master restarted while the move had slots on it, losing the keys
 *   migrated to it that it had not persisted (moveSideRestart.ts). Absent in older records.
 */
export const RedisMoveCursorSchema = z.object({
  dir: z.enum(['fwd', 'back']),
  next: z.number().int().min(-1).max(16384),
  open: z.boolean(),
  srcRun: z.string().optional(),
  dstRun: z.string().optional(),
})

/** RedisMoveCursor is a validated cursor. */
export type RedisMoveCursor = z.infer<typeof RedisMoveCursorSchema>

/** parseMoveCursor reads a cursor; undefined for a move that has not started (null or not ours). */
export function parseMoveCursor(raw: string | null): RedisMoveCursor | undefined {
  if (raw === null) return undefined
  try {
    const r = RedisMoveCursorSchema.safeParse(JSON.parse(raw))
    return r.success ? r.data : undefined
  } catch {
    return undefined
  }
}

/** formatMoveCursor is the JSON stored for `c`. */
export function formatMoveCursor(c: RedisMoveCursor): string {
  return JSON.stringify(c)
}
