import {z} from 'zod'
import {NodeIdSchema, ShardIdSchema} from './ids.js'

/**
 * MOVE_PHASES, in order, from the move protocol (docs/moves.md). A phase is persisted in etcd
 * (with any shard-map change it implies, in one fenced transaction) before its side
 * effects run, so a restarted executor resumes by re-running the side effects of the
 * phase it finds — every one of them is idempotent.
 *
 * pending → checked → joining → copying → promoting → verifying → cutover → release →
 * draining → cleanup → done; `aborting` → aborted (before cutover only); `skipped` (stale plan);
 * `failed` (an abort that could not complete: needs an operator). A rollback requested
 * after cutover, while the source still has its copy: [rb-joining →] rb-cutover →
 * rolledback (the source is caught up from the destination by digest repair, reads flip
 * back, the destination leaves).
 *
 * `promoting` (the destination's promotion from learner to joining and the barrier on that
 * epoch) is a phase of its own, not a first step of `verifying`, so that an executor build
 * that predates it refuses the record (its enum does not know the name) instead of reading
 * `verifying` as "barrier done" and verifying while routers may still acknowledge writes
 * without the destination. `verifying` is only ever committed once that barrier passed.
 */
export const MOVE_PHASES = ['pending', 'checked', 'joining', 'copying', 'promoting', 'verifying', 'cutover', 'release', 'draining', 'cleanup', 'done', 'aborting', 'aborted', 'skipped', 'failed', 'rb-joining', 'rb-cutover', 'rolledback'] as const

/** MovePhase is one of {@link MOVE_PHASES}. */
export type MovePhase = (typeof MOVE_PHASES)[number]

/**
 * PhaseInfo is everything the rest of the code may know about a phase without running the
 * machine: one row of {@link PHASE_TABLE}.
 */
export interface PhaseInfo {
  /** track: the forward protocol, its abort path, its rollback path, or a terminal outcome. */
  track: 'forward' | 'abort' | 'rollback' | 'end'
  /** terminal: nothing more happens to the move. */
  terminal: boolean
  /** outcome: for terminal phases, whether the move reached its goal (`done`), was let go on purpose (`skipped`, `rolledback`) or did not (`aborted`, `failed`). */
  outcome: 'running' | 'succeeded' | 'let-go' | 'unsuccessful'
  /** cutOver: reads have flipped to the destination (an abort is no longer possible). */
  cutOver: boolean
  /** cancel: how `moves cancel` answers in this phase. */
  cancel: 'accept' | 'already-aborting' | 'refuse-cut-over' | 'refuse-rolling-back' | 'finished'
  /** rollback: how `moves rollback` answers in this phase. */
  rollback: 'accept' | 'already' | 'refuse-not-cut-over' | 'refuse-source-gone'
  /** level: how loud the TUI and logs are about entering this phase. */
  level: 'info' | 'warn' | 'error'
  /** effect: what the executor does in this phase, one line (rendered in docs and help). */
  effect: string
}

/**
 * PHASE_TABLE is the one place that says what each move phase means; renderers, counters,
 * `moves cancel`/`rollback` and the docs derive their phase lists from it (a new phase
 * without a row does not compile). The transitions themselves are the move machine's
 * (src/executor/moveMachine.ts).
 */
export const PHASE_TABLE = {
  pending: {track: 'forward', terminal: false, outcome: 'running', cutOver: false, cancel: 'accept', rollback: 'refuse-not-cut-over', level: 'info', effect: 'waits for the scheduler; then checks the shard against the plan'},
  checked: {track: 'forward', terminal: false, outcome: 'running', cutOver: false, cancel: 'accept', rollback: 'refuse-not-cut-over', level: 'info', effect: 're-checks the plan, destination drops leftovers of the range, then joins'},
  joining: {track: 'forward', terminal: false, outcome: 'running', cutOver: false, cancel: 'accept', rollback: 'refuse-not-cut-over', level: 'info', effect: 'barrier on the write set, the destination learning (written, not counted)'},
  copying: {track: 'forward', terminal: false, outcome: 'running', cutOver: false, cancel: 'accept', rollback: 'refuse-not-cut-over', level: 'info', effect: 'copies the range to the destination under the throttles'},
  promoting: {track: 'forward', terminal: false, outcome: 'running', cutOver: false, cancel: 'accept', rollback: 'refuse-not-cut-over', level: 'info', effect: 'the learning destination joins the joint quorum at a new epoch, then the barrier on that epoch'},
  verifying: {track: 'forward', terminal: false, outcome: 'running', cutOver: false, cancel: 'accept', rollback: 'refuse-not-cut-over', level: 'info', effect: 'barrier on the joint quorum again (cheap), then digests are compared and differing buckets repaired, bounded rounds'},
  cutover: {track: 'forward', terminal: false, outcome: 'running', cutOver: true, cancel: 'refuse-cut-over', rollback: 'accept', level: 'info', effect: 'barrier on the new read set'},
  release: {track: 'forward', terminal: false, outcome: 'running', cutOver: true, cancel: 'refuse-cut-over', rollback: 'accept', level: 'info', effect: 'barrier with the source leaving'},
  draining: {track: 'forward', terminal: false, outcome: 'running', cutOver: true, cancel: 'refuse-cut-over', rollback: 'accept', level: 'info', effect: "waits for the source's in-flight requests, then the cleanup grace"},
  cleanup: {track: 'forward', terminal: false, outcome: 'running', cutOver: true, cancel: 'refuse-cut-over', rollback: 'refuse-source-gone', level: 'info', effect: 'the source drops its copy; the source leaves the shard'},
  done: {track: 'end', terminal: true, outcome: 'succeeded', cutOver: true, cancel: 'finished', rollback: 'refuse-source-gone', level: 'info', effect: 'nothing: the move finished'},
  aborting: {track: 'abort', terminal: false, outcome: 'running', cutOver: false, cancel: 'already-aborting', rollback: 'refuse-not-cut-over', level: 'warn', effect: 'the destination leaves the shard, then drops its partial copy'},
  aborted: {track: 'end', terminal: true, outcome: 'unsuccessful', cutOver: false, cancel: 'finished', rollback: 'refuse-not-cut-over', level: 'warn', effect: 'nothing: the shard is back on its old replicas'},
  skipped: {track: 'end', terminal: true, outcome: 'let-go', cutOver: false, cancel: 'finished', rollback: 'refuse-not-cut-over', level: 'warn', effect: 'nothing: the plan was stale for this shard'},
  failed: {track: 'end', terminal: true, outcome: 'unsuccessful', cutOver: false, cancel: 'finished', rollback: 'refuse-not-cut-over', level: 'error', effect: 'nothing: needs an operator (the reason says why)'},
  'rb-joining': {track: 'rollback', terminal: false, outcome: 'running', cutOver: true, cancel: 'refuse-rolling-back', rollback: 'already', level: 'info', effect: 'the source re-joins writes and is caught up from the destination'},
  'rb-cutover': {track: 'rollback', terminal: false, outcome: 'running', cutOver: true, cancel: 'refuse-rolling-back', rollback: 'already', level: 'info', effect: 'reads flip back to the source; the destination leaves and drops its copy'},
  rolledback: {track: 'end', terminal: true, outcome: 'let-go', cutOver: false, cancel: 'finished', rollback: 'already', level: 'info', effect: 'nothing: the shard is back on its old replicas'},
} as const satisfies Record<MovePhase, PhaseInfo>

/** phasesWhere lists, in {@link MOVE_PHASES} order, the phases whose table row satisfies `test`. */
export function phasesWhere(test: (info: PhaseInfo) => boolean): MovePhase[] {
  return MOVE_PHASES.filter((p) => test(PHASE_TABLE[p]))
}

/** TERMINAL_PHASES end a move; nothing more happens to it. */
export const TERMINAL_PHASES: ReadonlySet<MovePhase> = new Set(phasesWhere((i) => i.terminal))

/** isTerminal tells whether a move has finished (successfully or not). */
export function isTerminal(phase: MovePhase): boolean {
  return PHASE_TABLE[phase].terminal
}

/** isUnsuccessful tells whether a move ended without reaching its goal (aborted or failed): what makes `apply` exit INCOMPLETE. */
export function isUnsuccessful(phase: MovePhase): boolean {
  return PHASE_TABLE[phase].outcome === 'unsuccessful'
}

/** MoveProgressSchema: copy progress, written a few times per second at most. */
export const MoveProgressSchema = z.object({
  /** bytes are the key and value bytes copied, as load stats and {@link totalBytes} count them (0 for an empty shard). */
  bytes: z.number().nonnegative(),
  keys: z.number().nonnegative(),
  /** totalBytes is the planned size (from load stats): the shard's key and value bytes, once; 0 when unknown. */
  totalBytes: z.number().nonnegative(),
  /**
   * expectedBytes is about how many key and value bytes the copy applies in all, what
   * {@link bytes} runs to (see {@link copyGoalBytes}): {@link totalBytes} for a copy from one
   * source, more when it merges several replicas, each read whole (a heal whose source is
   * down), or re-reads part of the range after its sources changed. Absent in a record
   * written before it existed, or while the destination has not said yet: {@link totalBytes}.
   */
  expectedBytes: z.number().nonnegative().optional(),
  /**
   * rateBytesPerSec is the copy stream's rate, what the throttles limit: its bytes also carry
   * each record's version and framing, so it runs above the rate of `bytes`. Shown beside a
   * throttle (`top`'s COPY line), never beside `bytes`.
   */
  rateBytesPerSec: z.number().nonnegative(),
  /**
   * dataRateBytesPerSec is the rate of `bytes` (key and value bytes per second): the rate shown
   * beside them and the one the ETA divides what is left of {@link totalBytes} by. 0 in a record
   * written before it existed (no rate, so no ETA, rather than a figure in the wrong unit).
   */
  dataRateBytesPerSec: z.number().nonnegative().default(0),
  /** cursor resumes the copy after the last chunk applied to the destination. */
  cursor: z.string().nullable(),
  /** stalled is set when the copy stayed under its stall threshold for 30 s: 0.1 MiB/s, or a quarter of the move's throttle share when that is lower. */
  stalled: z.boolean(),
})

/** MoveProgress is validated copy progress. */
export type MoveProgress = z.infer<typeof MoveProgressSchema>

/**
 * copyGoalBytes is what a copy's progress counts towards: the bytes it is expected to apply
 * in all (expectedBytes) when known, else the planned size; 0 when unknown. The fraction
 * shown, "of ~X" and the ETA all use it, so a copy merged from two replicas reads 50 % after
 * its first, not 100 % and then "past the estimate".
 */
export function copyGoalBytes(p: {totalBytes: number; expectedBytes?: number | undefined}): number {
  return p.expectedBytes !== undefined && p.expectedBytes > 0 ? p.expectedBytes : p.totalBytes
}

/**
 * SourceAbandonedSchema records that a cut-over move's destination, restarted since it was
 * verified, was accepted without being refilled from the move's source (gone for good, the
 * operator's `moves abandon-source --accept-data-loss`): what only the source's copy held is
 * lost. `refilledFrom` are the live staying voters it was refilled from instead (none at rf 1).
 */
const SourceAbandonedEntrySchema = z.object({
  /** at: when the executor accepted the destination without the source (ISO time). */
  at: z.string(),
  /** destinationDir: the destination's `<dataDirId>/<instance>` accepted (verifiedDirs.ts); null: it had no claim. */
  destinationDir: z.string().nullable(),
  refilledFrom: z.array(NodeIdSchema),
  /** sourceRefillAt: the source came back before its copy was dropped, and the destination was refilled from it after all (ISO time). */
  sourceRefillAt: z.string().optional(),
  /** sourceRefillDir: the `<dataDirId>/<instance>` the source served under when it was read then; null: it had no claim. */
  sourceRefillDir: z.string().nullable().optional(),
  /**
   * sourceDirReplaced: it came back on another data dir than the one verified (a replaced disk
   * served with --accept-empty-data): reading it gave back nothing of its old copy, so what only
   * that copy held is still lost.
   */
  sourceDirReplaced: z.boolean().optional(),
  /**
   * sourceDropMaySent: it came back in `cleanup` after its drop was recorded (sourceDropSentAt): its copy may have been
   * dropped before it went down, so reading it may have given back nothing, and what only that copy held may still be lost.
   */
  sourceDropMaySent: z.boolean().optional(),
  /**
   * abandonedVoters: the staying voters down that this refill went on without too (`moves abandon-voters`), whose loss its
   * warning names with the source's. The source coming back gives back only its own copy: that warning stays one of
   * possible data loss (moveLossWarning.ts sourceReturnedWarnings). Absent: none (or a record from before session 41).
   */
  abandonedVoters: z.array(NodeIdSchema).optional(),
})

export const SourceAbandonedSchema = SourceAbandonedEntrySchema.extend({
  /**
   * earlier: the move's earlier refills without the source, oldest first (the destination
   * restarted again, with the source still down): a later one never erases when data was
   * first lost. Absent: this is the first.
   */
  earlier: z.array(SourceAbandonedEntrySchema).optional(),
})

/** SourceAbandoned is a validated {@link SourceAbandonedSchema}. */
export type SourceAbandoned = z.infer<typeof SourceAbandonedSchema>

/**
 * MoveWarningSchema: something that happened to a move that its phase does not say, kept for
 * the operator (`moves show`, `apply`'s summary and exit status): a redis master the move used
 * restarted while it ran (src/redis/moveSideRestart.ts). `key` identifies the happening, so a
 * run that finds it again does not add it twice; `mayHaveLostData` marks acknowledged keys
 * possibly lost (`apply` then exits POSSIBLE_DATA_LOSS even when the move ended `done`).
 */
export const MoveWarningSchema = z.object({
  key: z.string(),
  at: z.string(),
  text: z.string(),
  mayHaveLostData: z.boolean(),
  /** node: the master the warning is about (the one that restarted). Absent in warnings written before session 38. */
  node: z.string().optional(),
  /** acknowledgedAt: when an operator acknowledged it (`moves ack`), having checked the keys; absent until then. */
  acknowledgedAt: z.string().optional(),
})

/** MoveWarning is one validated {@link MoveWarningSchema} entry. */
export type MoveWarning = z.infer<typeof MoveWarningSchema>

/**
 * KeptCopyRepairSchema: the repair of the shard's read voters up from the destination's copy a move keeps outside the
 * map before dropping it (src/executor/keptCopyRepair.ts, moveMachine.ts dropKeptCopy). Recorded, fenced on the claims
 * it names, once the repair completed and before the drop is sent (`repaired`: from then on the copy may be dropped),
 * and `dropped` with the commit that ends the move. `dirs`: the `claims/<id>` tokens of the copy's node and the voters
 * the repair read and wrote (a voter on another data dir since no longer holds what it was given); `copyDir`: the
 * destination's token its copy was last known under (verifiedDirs in `rb-cutover`, promotedDir in `aborting`; null: none
 * recorded); `copyReplaced`: the destination served another data dir than that at the repair (the copy read was not
 * the one that took the writes).
 */
export const KeptCopyRepairSchema = z.object({
  state: z.enum(['repaired', 'dropped']),
  at: z.string(),
  voters: z.array(z.string()),
  records: z.number().int().nonnegative(),
  dirs: z.record(z.string(), z.string()),
  copyDir: z.string().nullable(),
  copyReplaced: z.boolean(),
})

/** KeptCopyRepair is one validated {@link KeptCopyRepairSchema} value. */
export type KeptCopyRepair = z.infer<typeof KeptCopyRepairSchema>

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
  /**
   * writeQuorumFloor: on a move recorded by the session 28 build, the smallest write quorum a
   * router registered while the move ran was sampled with. No longer written (the cluster's
   * write floor, `write-floor`, covers every router ever run: src/model/writeFloor.ts); still
   * read, and still counted by the fallback from a down source (writeQuorumsEver).
   */
  writeQuorumFloor: z.number().int().min(1).optional(),
  /**
   * verifiedDirs: the `claims/<id>` of the source and the destination (`<dataDirId>/<instance>`)
   * the verification that cut the move over compared (a rollback's catch-up records them again).
   * A node serving under another claim since is compared again before the move goes on or drops
   * the other copy (src/executor/verifiedDirs.ts). Absent: cut over by a build before session 36.
   */
  verifiedDirs: z.record(z.string(), z.string()).optional(),
  /**
   * abandonSourceRequested: when `moves abandon-source --accept-data-loss` marked the move (ISO
   * time): its source is gone for good, so a refill of the destination that has no other copy
   * to read (rf 1, or a `w = 1` write floor) may end without it (src/executor/sourceAbandon.ts).
   * Honoured only while the source holds no `alive/<id>` lease. Absent: not requested.
   */
  abandonSourceRequested: z.string().optional(),
  /** sourceAbandoned: the executor ended a refill without the source, as requested (see {@link SourceAbandonedSchema}). */
  sourceAbandoned: SourceAbandonedSchema.optional(),
  /**
   * sourceDropSentAt: in `cleanup`, whether the source may have dropped its copy: null once the move entered `cleanup`
   * (this build records it so), an ISO time once the executor recorded, fenced, that it is about to send the drop (the
   * record comes first, so a drop is never sent unrecorded). Absent: a record from before session 40, which did not say:
   * counted as sent. A destination restarted in `cleanup` before it is recorded is refilled from the source's whole copy
   * (no loss to tell); after, from what remains of it and the staying voters (moveMachine.ts refillAfterDrop).
   */
  sourceDropSentAt: z.string().nullable().optional(),
  /**
   * abandonVotersRequested: when `moves abandon-voters --accept-data-loss` marked the move (ISO time): the staying voters
   * that are down, which a destination restarted in `cleanup` after the source's drop waits for, are gone for good; the
   * refill goes on from what is up, recording a warning of possible data loss (src/executor/votersAbandon.ts). So may a
   * refill without an abandoned source (moveMachine.ts refillWithoutSource). Consumed by that refill's commit; withdrawn
   * when every voter it named is up again before (they are read). Absent: not requested.
   */
  abandonVotersRequested: z.string().optional(),
  /**
   * abandonVotersDirs: the staying voters the operator abandoned with {@link abandonVotersRequested} (those down then),
   * each with the claim (`<dataDirId>/<instance>`) it last registered under, null when none was readable. The mark is
   * honoured only for them: a refill that finds another voter down waits for it (nobody judged it gone). Once every one
   * is up again on the data dir it had, before a refill honoured the mark, the mark is withdrawn and they are read (they
   * count again, as an abandoned source that comes back does). Absent with the mark set: a record from before session
   * 41, honoured for every voter down.
   */
  abandonVotersDirs: z.record(z.string(), z.string().nullable()).optional(),
  /**
   * waitingFor: what the executor waits for, not counted as a failed attempt (a node that is down), with its way out, as
   * it last said (`moves show` and `cluster status` print it); since: when that wait began. Cleared by the move's next
   * commit, a counted failure, or before a step the wait did not come from (moveRunner.ts recordWaiting). Absent: not waiting (or a record from before session 40).
   */
  waitingFor: z.object({since: z.string(), text: z.string()}).optional(),
  /**
   * promotedDir: the destination's `claims/<id>` token (`<dataDirId>/<instance>`) when it was promoted (its answer counts
   * in the joint quorum from then on, so its copy may hold a write acknowledged by it and the source alone). An abort
   * compares it with the destination's claim at the repair from its kept copy (moveMachine.ts dropKeptCopy): a copy on
   * another data dir since lost what only it held. Absent: promoted by a build before session 41, or no claim.
   */
  promotedDir: z.string().optional(),
  /**
   * stayingDirs: the `claims/<id>` tokens of the staying voters (the shard's voters but the source) as read when the move
   * promoted its destination (the cutover keeps those and adds any missing, as read then). They are counted as holding
   * every write acknowledged with them (a refill of the destination from them, the source's copy dropped while the
   * destination is down, the destination's kept copy dropped by an abort or a rollback); one on another data dir since (a
   * replaced disk served with --accept-empty-data) lost those writes and is not counted (moveMachine.ts
   * stayingVotersEnough, dropKeptCopy). Absent: promoted and cut over by a build before session 42 (not judged); a voter
   * missing: it had no claim then.
   */
  stayingDirs: z.record(z.string(), z.string()).optional(),
  /**
   * copyDirs: the `claims/<id>` tokens of the old voters but the source (and the destination) as read when the copy
   * began (`joining` → `copying`). A copy or verification with the source down reads them as holders of every write
   * acknowledged before the barrier; one on another data dir since (a replaced disk served with --accept-empty-data) lost
   * those writes and is not counted (liveCopySources.ts). Absent: begun by a build before session 42 (not judged); a
   * voter missing: it had no claim then.
   */
  copyDirs: z.record(z.string(), z.string()).optional(),
  /** keptCopyRepair: the repair from the destination's copy kept outside the map (see {@link KeptCopyRepairSchema}). Absent: none ran. */
  keptCopyRepair: KeptCopyRepairSchema.optional(),
  /** warnings: what the operator must know of a move beyond its phase (MoveWarningSchema), oldest first. Absent: none. */
  warnings: z.array(MoveWarningSchema).optional(),
})

/** Move is a validated move record. */
export type Move = z.infer<typeof MoveSchema>

/**
 * lossWarnings are a move's warnings that acknowledged data may be lost (MoveWarning.mayHaveLostData)
 * that no operator has acknowledged yet (`moves ack`): what `cluster status` lists, what holds the
 * autopilot off their master, and what `apply` exits POSSIBLE_DATA_LOSS for.
 */
export function lossWarnings(m: Pick<Move, 'warnings'>): MoveWarning[] {
  return (m.warnings ?? []).filter((w) => w.mayHaveLostData && w.acknowledgedAt === undefined)
}

/** HELD_WARNING_KEY prefixes the key of a warning that holds a redis move's open slot until an operator decides (src/redis/sourceRestart.ts uncheckedHold). */
export const HELD_WARNING_KEY = 'held:'

/** UNCHECKED_WARNING_KEY prefixes the key of a warning that a redis master's restart while the move ran could not be judged (src/redis/moveSideRestart.ts uncheckedWarning). */
export const UNCHECKED_WARNING_KEY = 'unchecked:'

/**
 * checkWarnings are a move's warnings that report no loss but wait for an operator's check
 * (a slot held open, a restart window nobody could judge: HELD_WARNING_KEY,
 * UNCHECKED_WARNING_KEY) that no operator has acknowledged yet (`moves ack`): `top`'s TROUBLE
 * panel lists them beside the loss warnings, marked as not a loss, so none waits unseen. Other
 * warnings that report no loss (a loss withdrawn, a destination refilled) need nobody.
 */
export function checkWarnings(m: Pick<Move, 'warnings'>): MoveWarning[] {
  return (m.warnings ?? []).filter((w) => !w.mayHaveLostData && w.acknowledgedAt === undefined && (w.key.startsWith(HELD_WARNING_KEY) || w.key.startsWith(UNCHECKED_WARNING_KEY)))
}

/** openWarnings are a move's warnings that wait for an operator: {@link lossWarnings} and {@link checkWarnings}, in the order recorded. What `moves ack` acknowledges. */
export function openWarnings(m: Pick<Move, 'warnings'>): MoveWarning[] {
  const open = new Set([...lossWarnings(m), ...checkWarnings(m)])
  return (m.warnings ?? []).filter((w) => open.has(w))
}

/** mayHaveLostData tells whether a move carries a warning of possible data loss not acknowledged yet ({@link lossWarnings}). */
export function mayHaveLostData(m: Pick<Move, 'warnings'>): boolean {
  return lossWarnings(m).length > 0
}

/** lossWayOut is the way out of move `id`'s unacknowledged warnings of possible data loss, as `cluster status` (kv and redis) and `top` state it. */
export function lossWayOut(id: string): string {
  return `check the keys it names against your source of truth, then \`shardctl moves ack ${id}\``
}

/** checkWayOut is the way out of move `id`'s unacknowledged warnings that report no loss but wait for a check ({@link checkWarnings}), as `top` states it. */
export function checkWayOut(id: string): string {
  return `not a loss: check what it names (its text says what acknowledging does), then \`shardctl moves ack ${id}\``
}

/** warningNode is the master a warning is about: its `node`, or for a warning written before that field, the node its `restart:<node>:<run_id>` key names; null otherwise. */
export function warningNode(w: MoveWarning): string | null {
  return w.node ?? /^restart:([^:]+):/.exec(w.key)?.[1] ?? null
}

/** withWarnings is `current` plus those of `added` whose key it does not hold yet, in order; `current` itself when none is new. */
export function withWarnings(current: readonly MoveWarning[] | undefined, added: readonly MoveWarning[]): MoveWarning[] | undefined {
  const have = new Set((current ?? []).map((w) => w.key))
  const fresh = added.filter((w) => !have.has(w.key))
  return fresh.length === 0 ? current?.slice() : [...(current ?? []), ...fresh]
}
