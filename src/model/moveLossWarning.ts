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
 * destination's new dir lacks), with what only the staying voters the operator abandoned too held
 * (`abandonedVoters`: moves abandon-voters). Keyed on the source and the time, so a second refill without it
 * (the destination restarted again) is a warning of its own.
 */
export function sourceAbandonedWarning(move: Pick<Move, 'id' | 'from' | 'to'>, at: string, refilledFrom: readonly string[], destinationDir: string | null, abandonedVoters: readonly string[] = []): MoveWarning {
  const refilled = refilledFrom.length > 0 ? `refilled from ${refilledFrom.join(', ')}` : 'no other copy to refill it from'
  const voters = abandonedVoters.length > 0 ? `, with what only ${abandonedVoters.join(', ')} (down, abandoned by the operator: moves abandon-voters --accept-data-loss) held` : ''
  return {
    key: sourceAbandonedWarningKey(move.from, at),
    at,
    text: `went on without its source ${move.from} (moves abandon-source --accept-data-loss): ${move.to} restarted since it was verified (dir ${destinationDir ?? 'unknown'}) and kept what it held (${refilled}); acknowledged records only ${move.from}'s copy held are lost${voters}`,
    mayHaveLostData: true,
  }
}

/**
 * sourceReturnedWarnings is `warnings` once the abandoned source came back on its verified dir
 * before its copy was dropped and the destination was refilled from it: the loss a
 * {@link sourceAbandonedWarning} not yet acknowledged told of did not happen, so it is no longer
 * one of possible data loss (its text says why; `moves show` still prints it). Except those whose keys are in `stands`:
 * a refill that went on without abandoned staying voters too (`moves abandon-voters`) warned of what only they held, which
 * the source's copy does not give back (from `release` on the source takes no writes); until session 41's hunt that loss
 * was withdrawn with the source's, and the move ended `done` with no warning.
 */
export function sourceReturnedWarnings(warnings: readonly MoveWarning[] | undefined, said: string, stands: ReadonlySet<string> = new Set()): MoveWarning[] | undefined {
  if (!warnings) return undefined
  return warnings.map((w) => {
    if (!w.key.startsWith(SOURCE_ABANDONED_KEY) || !w.mayHaveLostData || w.acknowledgedAt !== undefined) return w
    if (stands.has(w.key)) return {...w, text: `${w.text} (${said}; what only the abandoned voters held stays lost)`}
    return {...w, mayHaveLostData: false, text: `${w.text} (withdrawn: ${said})`}
  })
}

/** sourceAbandonedWarningKey is the key {@link sourceAbandonedWarning} gives the refill without `from` recorded at `at`. */
export function sourceAbandonedWarningKey(from: string, at: string): string {
  return `${SOURCE_ABANDONED_KEY}${from}:${at}`
}

/**
 * DroppedSourceVerdict is how a destination restarted after its source's drop came out:
 * `refilled` from staying voters that hold every acknowledged write (nothing lost); on the
 * `same-dir` it was verified on (a new process: it kept its copy, unless that dir is an older
 * copy restored, which nothing can tell apart); or `lost`: another data dir, and no other copy
 * sure to hold what it lacked.
 */
export type DroppedSourceVerdict = 'refilled' | 'same-dir' | 'lost'

/**
 * droppedSourceWarning is the warning a move records when its destination serves under another
 * claim (data dir or process) than the one verified while the move is in `cleanup`: the source
 * may have dropped its copy already, so the refill had no whole copy of the source's to read.
 * `refilledFrom`: the staying voters it was refilled from besides what remained of the source's
 * copy (none at rf 1); `abandoned`: the staying voters down that the operator gave up on (`moves abandon-voters`), named
 * in a `lost` warning. Of possible data loss only for `lost`; the others tell what happened.
 * Keyed on the destination's claim: another restart is a warning of its own.
 */
export function droppedSourceWarning(move: Pick<Move, 'id' | 'from' | 'to'>, at: string, destinationDir: string | null, refilledFrom: readonly string[], verdict: DroppedSourceVerdict, abandoned: readonly string[] = []): MoveWarning {
  const what = `${move.to} restarted (dir ${destinationDir ?? 'unknown'}) in cleanup, when ${move.from} may have dropped its copy already; refilled from what remained of it${refilledFrom.length > 0 ? ` and from ${refilledFrom.join(', ')}` : ''}`
  const text = {
    refilled: `${what}, which hold every acknowledged write`,
    'same-dir': `${what}; on the data dir it was verified on, so it kept its copy, unless that dir is an older copy restored (then what it lacked and no other copy held is lost)`,
    lost: `${what}; on another data dir than the one verified: acknowledged records ${move.to} lost that no other copy held are lost${abandoned.length > 0 ? `, with what only ${abandoned.join(', ')} (down, abandoned by the operator: moves abandon-voters --accept-data-loss) held` : ''}`,
  }[verdict]
  return {key: `${DROPPED_SOURCE_KEY}${move.to}:${destinationDir ?? 'unknown'}`, at, text, mayHaveLostData: verdict === 'lost'}
}

/** KEPT_COPY_KEY prefixes the key of {@link keptCopyLostWarning}. */
export const KEPT_COPY_KEY = 'kept-copy:'

/**
 * keptCopyLostWarning is the warning an abort or a rollback records when the destination's copy it kept outside the map
 * (the source down or unjudged at w = 1: destinationCopyKeep.ts) may not have held what it was kept for by the time it
 * was dropped: `copy` the destination served another data dir at the repair than the one its copy was last known under
 * (a replaced disk served with --accept-empty-data: the repair read what the new dir held, not the writes only the old
 * copy had); `voters` every voter repaired from it serves another data dir since the repair was recorded (the drop may
 * have been sent, so nothing is left to repair them from again); `removed` the destination was removed from the cluster
 * (`node remove --accept-data-loss`) while its copy was kept and before any repair from it was recorded, so the move
 * could neither read nor drop it (`dirNow` is then its dir last known, `voters` empty). Keyed on the destination and its
 * dir at the repair (or last known).
 */
export function keptCopyLostWarning(move: Pick<Move, 'id' | 'from' | 'to'>, at: string, why: 'copy' | 'voters' | 'removed', copyDir: string | null, dirNow: string | null, voters: readonly string[]): MoveWarning {
  const text = {
    copy: `${move.to}'s copy was kept outside the map to repair the voters from (${move.from} down or its dir unjudged, at a write quorum of 1), but ${move.to} served another data dir at the repair (${dirNow ?? 'unknown'}) than the one its copy was last known under (${copyDir ?? 'unknown'}): acknowledged records only its old copy held are lost`,
    voters: `${move.to}'s copy was repaired into ${voters.join(', ')} before it was dropped, but every one of them serves another data dir since the repair was recorded (the drop may have been sent): acknowledged records only ${move.to}'s copy held are lost`,
    removed: `${move.to} was removed from the cluster (node remove --accept-data-loss) while its copy was kept outside the map to repair the voters from (${move.from} down or its dir unjudged, at a write quorum of 1), before any repair from it: acknowledged records only that copy held are lost, unless ${move.from} comes back on the data dir its copy was compared under`,
  }[why]
  return {key: `${KEPT_COPY_KEY}${move.to}:${why}:${dirNow ?? 'unknown'}`, at, text, mayHaveLostData: true}
}

/** LossKind names what a loss warning is about, for the one line `apply` ends with. */
export type LossKind = 'master-restart' | 'source-abandoned' | 'destination-lost' | 'kept-copy-lost'

/** lossKindOf classifies a warning by its key (a redis master's `restart:<node>:<run>`, or the kv ones above). */
export function lossKindOf(w: Pick<MoveWarning, 'key'>): LossKind {
  if (w.key.startsWith(SOURCE_ABANDONED_KEY)) return 'source-abandoned'
  if (w.key.startsWith(DROPPED_SOURCE_KEY)) return 'destination-lost'
  if (w.key.startsWith(KEPT_COPY_KEY)) return 'kept-copy-lost'
  return 'master-restart'
}
