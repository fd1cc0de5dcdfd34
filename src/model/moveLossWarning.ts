import {type Move, type MoveWarning} from './move.js'

/**
 * The warnings of possible data loss a kv move records itself (pure). A move that ends `done`
 * after losing acknowledged records must not read as success: `apply` exits POSSIBLE_DATA_LOSS
 * (23) for a move with an unacknowledged loss warning (src/cli/runOutcome.ts), `moves show` and
 * `apply` print it, `cluster status` lists it until `moves ack`. Until session 39 a move that
 * went on without its source (`moves abandon-source --accept-data-loss`) recorded the fact only
 * in `sourceAbandoned` and its reason, and `apply` exited 0: a CI pipeline gating on the exit
 * status read a loss the operator had accepted, but nobody had checked, as a clean rebalance.
 *
 * The warnings carry no `node`: the autopilot holds the node a warning names (a redis master
 * that restarted) off its plans until `moves ack`, and holding a dead kv source off would stop
 * the heal of its other shards.
 */

/** SOURCE_ABANDONED_KEY prefixes the key of {@link sourceAbandonedWarning}. */
export const SOURCE_ABANDONED_KEY = 'source-abandoned:'

/** DROPPED_SOURCE_KEY prefixes the key of {@link droppedSourceWarning}. */
export const DROPPED_SOURCE_KEY = 'dropped-source:'

/**
 * sourceAbandonedWarning is the warning a move records when it accepts its restarted destination
 * without its abandoned source: what only the source's copy held is lost (at rf 1, everything the
 * destination's new dir lacks). Keyed on the source and the time, so a second refill without it
 * (the destination restarted again) is a warning of its own.
 */
export function sourceAbandonedWarning(move: Pick<Move, 'id' | 'from' | 'to'>, at: string, refilledFrom: readonly string[], destinationDir: string | null): MoveWarning {
  const refilled = refilledFrom.length > 0 ? `refilled from ${refilledFrom.join(', ')}` : 'no other copy to refill it from'
  return {
    key: `${SOURCE_ABANDONED_KEY}${move.from}:${at}`,
    at,
    text: `went on without its source ${move.from} (moves abandon-source --accept-data-loss): ${move.to} restarted since it was verified (dir ${destinationDir ?? 'unknown'}) and kept what it held (${refilled}); acknowledged records only ${move.from}'s copy held are lost`,
    mayHaveLostData: true,
  }
}

/**
 * sourceReturnedWarnings is `warnings` once the abandoned source came back on its verified dir
 * before its copy was dropped and the destination was refilled from it: the loss a
 * {@link sourceAbandonedWarning} not yet acknowledged told of did not happen, so it is no longer
 * one of possible data loss (its text says why; `moves show` still prints it).
 */
export function sourceReturnedWarnings(warnings: readonly MoveWarning[] | undefined, said: string): MoveWarning[] | undefined {
  if (!warnings) return undefined
  return warnings.map((w) => (w.key.startsWith(SOURCE_ABANDONED_KEY) && w.mayHaveLostData && w.acknowledgedAt === undefined ? {...w, mayHaveLostData: false, text: `${w.text} (withdrawn: ${said})`} : w))
}

/**
 * droppedSourceWarning is the warning a move records when its destination restarted (another
 * data dir or process than the one verified) after the source was asked to drop its copy: the
 * refill has no whole copy of the source's to read, so what the destination lacks and no staying
 * voter holds is lost. `refilledFrom`: the staying voters it was refilled from (none at rf 1);
 * `enough`: they are enough that every acknowledged write is on one of them (the write-floor
 * rule of a heal: liveCopySources), so nothing is lost: the warning then only tells what
 * happened (mayHaveLostData false).
 */
export function droppedSourceWarning(move: Pick<Move, 'id' | 'from' | 'to'>, at: string, destinationDir: string | null, refilledFrom: readonly string[], enough: boolean): MoveWarning {
  const what = `${move.to} restarted (dir ${destinationDir ?? 'unknown'}) after ${move.from} was asked to drop its copy at cleanup`
  const text = enough
    ? `${what}; refilled from ${refilledFrom.join(', ')}, which hold every acknowledged write (read repair and anti-entropy keep them converging)`
    : `${what}; ${refilledFrom.length > 0 ? `refilled from ${refilledFrom.join(', ')} and` : 'no other voter holds the shard:'} what remained of ${move.from}'s copy, but acknowledged records ${move.to} lost and no other copy held are lost`
  return {key: `${DROPPED_SOURCE_KEY}${move.to}:${destinationDir ?? 'unknown'}`, at, text, mayHaveLostData: !enough}
}

/** LossKind names what a loss warning is about, for the one line `apply` ends with. */
export type LossKind = 'master-restart' | 'source-abandoned' | 'destination-lost'

/** lossKindOf classifies a warning by its key (a redis master's `restart:<node>:<run>`, or the kv ones above). */
export function lossKindOf(w: Pick<MoveWarning, 'key'>): LossKind {
  if (w.key.startsWith(SOURCE_ABANDONED_KEY)) return 'source-abandoned'
  if (w.key.startsWith(DROPPED_SOURCE_KEY)) return 'destination-lost'
  return 'master-restart'
}
