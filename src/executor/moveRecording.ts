import {z} from 'zod'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {UserError} from '../errors/errors.js'
import {type HeldLock, parseLockHolder} from '../etcd/leaseLock.js'
import {isTerminal, type Move, MoveSchema} from '../model/move.js'
import {MAX_TXN_OPS, type Typed} from '../store/store.js'
import {listMoves} from './moveStore.js'

/**
 * How `apply` records a plan's moves, so that a kill at any moment leaves either none of
 * them recorded or a list that the next executor completes.
 *
 * A plan of up to RECORD_BATCH moves is recorded in one transaction: all or nothing. A
 * larger plan cannot be (etcd takes at most 128 operations a transaction), and recording it
 * in batches alone let a kill between two batches leave the plan half recorded with nothing
 * saying so: `apply --resume` ran the recorded part and called it finished, applying the plan
 * again said "applied already", and the rest was silently dropped. So a larger plan first
 * writes the full list of its move records under `recording/<plan>/` (pages, in as few
 * transactions as etcd's request size allows; a list is whole once its last page is there),
 * then records the moves in batches, the last batch deleting the list in its transaction.
 * A `recording/<plan>/` list therefore exists exactly while some of the plan's confirmed
 * moves are not recorded yet, and every executor (`apply`, `apply --resume`, `node drain`,
 * the autopilot) completes such lists under the executor lock once it goes ahead (confirmed,
 * not stopped or refused: a declined, stopped or refused run changes nothing), before its splits, records and
 * moves; a plan with a whole list counts as recorded. The rest are recorded as confirmed (`pending` or `skipped`), and a pending one still
 * checks its shard's epoch and replicas when it starts (skipped if a later plan moved it). A
 * list that is not whole is from an apply killed before it recorded any move: it is deleted
 * and the plan, applied again, is preflighted afresh. `moves list` and the autopilot count
 * unrecorded moves as unfinished. Why not refuse instead: the operator confirmed every move,
 * and the splits that made their pieces already ran; finishing the confirmed plan is what
 * `apply --resume` promises.
 */

/** RECORD_BATCH is how many moves one transaction records: below etcd's 128 operations, with room for the list's deletion. */
export const RECORD_BATCH = 100

/** PAGE_MOVES is how many move records one list page holds (~500 bytes each: ~100 KiB a page). */
const PAGE_MOVES = 200

/** TXN_BYTES bounds the page bytes of one transaction, below etcd's 1.5 MiB request limit. */
const TXN_BYTES = 1024 * 1024

/**
 * READ_PAGES is how many list pages one etcd range request reads. Each page was written in a
 * request etcd accepted (at most 1.5 MiB), so a response is at most 24 MiB, below the 64 MiB
 * the client receives. Read with the store's default of 10,000 keys a range, a list of more
 * than ~650 pages (~130k moves at ~500 bytes) was one response over that limit: `moves list`,
 * `apply --resume` and the autopilot all failed on it (RESOURCE_EXHAUSTED).
 */
export const READ_PAGES = 16

/** RecordingPageSchema is one page of a plan's list of moves to record. */
export const RecordingPageSchema = z.object({
  plan: z.string(),
  page: z.number().int().nonnegative(),
  pages: z.number().int().positive(),
  moves: z.array(MoveSchema),
})

type RecordingPage = z.infer<typeof RecordingPageSchema>

/** Recording is what `moves list` and the autopilot see of a plan whose moves are not all recorded. */
export interface Recording {
  plan: string
  /** named: the moves the plan's list names (0 when the list is not whole). */
  named: number
  /** recorded: how many of them have a `moves/` record. */
  recorded: number
  /** whole is false for a list an apply was killed while writing (no move of it was recorded), or one a running apply is writing. */
  whole: boolean
  /**
   * recordingBy names the executor lock's holder when the list was written under the lock
   * held now: a running apply is recording the moves (a list outlives its writer only when
   * the writer stopped). Absent when the list is a stopped apply's.
   */
  recordingBy?: string
}

/**
 * recordPlanMoves records `moves` (all of one plan), fenced on `lock`: in one transaction
 * when they fit, else through the list described above. Throws UserError(CONFLICT) when a
 * transaction's compares fail (the lock lost, or a move recorded by someone else), having
 * recorded what it could: the list stays, and the next executor completes it.
 */
export async function recordPlanMoves(ctx: ServiceContext, lock: HeldLock, plan: string, moves: Move[]): Promise<void> {
  if (moves.length <= RECORD_BATCH) return recordBatches(ctx, lock, plan, moves, false)
  const pages: RecordingPage[] = []
  for (let i = 0; i < moves.length; i += PAGE_MOVES) pages.push({plan, page: pages.length, pages: Math.ceil(moves.length / PAGE_MOVES), moves: moves.slice(i, i + PAGE_MOVES)})
  let txn: {key: string; value: string}[] = []
  let bytes = 0
  const flush = async () => {
    if (txn.length === 0) return
    if ((await ctx.store.commit({compares: [lock.fence], puts: txn})) === undefined) throw lockLost(plan)
    txn = []
    bytes = 0
  }
  for (const p of pages) {
    const value = JSON.stringify(p)
    if (bytes + value.length > TXN_BYTES || txn.length >= MAX_TXN_OPS) await flush()
    txn.push({key: ctx.keys.recordingPage(plan, p.page), value})
    bytes += value.length
  }
  await flush()
  await recordBatches(ctx, lock, plan, moves, true)
}

/**
 * completeRecordings finishes every plan's list left by an interrupted apply (see above),
 * under the executor lock: records the moves it names that have no record, deleting the list
 * with the last batch, and deletes lists that are not whole. Returns what it did, one entry
 * per list (for the executor's log).
 */
export async function completeRecordings(ctx: ServiceContext, lock: HeldLock): Promise<Recording[]> {
  const found = await readUnrecorded(ctx)
  for (const {recording, missing} of found) {
    if (missing.length > 0) await recordBatches(ctx, lock, recording.plan, missing, true)
    else if ((await ctx.store.commit({compares: [lock.fence], deletePrefixes: [ctx.keys.recordingOf(recording.plan)]})) === undefined) throw lockLost(recording.plan)
  }
  return found.map((f) => f.recording)
}

/**
 * readRecordings lists the plans whose moves are not all recorded (read-only: `moves list`,
 * the autopilot's observation), each with `recordingBy` when a running apply is recording
 * it: its pages were all created after the executor lock held now was (every page is
 * written under the lock, and a later lock is a new key with a higher create revision), so
 * the lock's holder wrote them. A list older than the lock is a stopped apply's, even while
 * another executor holds the lock. The lock is read first: a list the holder wrote and
 * finished since is gone by the time the lists are read.
 */
export async function readRecordings(ctx: ServiceContext): Promise<Recording[]> {
  const lock = await ctx.store.get(ctx.keys.executorLock)
  return (await readUnrecorded(ctx)).map(({recording, createdAt}) => {
    if (!lock || createdAt <= lock.createRevision) return recording
    const h = parseLockHolder(lock.value)
    return {...recording, recordingBy: h ? `${h.holder} (pid ${h.pid} on ${h.host})` : 'an unreadable lock holder'}
  })
}

/**
 * unfinishedMoves lists every move not terminal (read-only): the recorded ones and those an
 * interrupted apply confirmed and listed but did not record, as pending (the next executor
 * records and runs them: completeRecordings). What apply and `plan verify` check a plan's
 * conflicts against (unfinishedConflicts.ts).
 */
export async function unfinishedMoves(ctx: ServiceContext): Promise<Move[]> {
  const unrecorded = (await readUnrecorded(ctx)).flatMap((r) => r.missing)
  return [...(await listMoves(ctx)).map((m) => m.value), ...unrecorded].filter((m) => !isTerminal(m.phase))
}

/**
 * unrecordedMovesOf lists the moves plan `plan`'s whole list names that have no record yet
 * (read-only). A plan with a whole list counts as recorded, so apply checks that the plan it
 * was given is the one listed under its id against these too (recordedPlanIdentity.ts): with
 * none of them recorded yet, the recorded moves alone say nothing.
 */
export async function unrecordedMovesOf(ctx: ServiceContext, plan: string): Promise<Move[]> {
  return (await readUnrecorded(ctx)).filter((r) => r.recording.plan === plan).flatMap((r) => r.missing)
}

/**
 * readUnrecorded reads every plan's list and, for each, what it names, which of those moves
 * have no record yet (none for a list that is not whole) and the oldest create revision of
 * its pages.
 */
async function readUnrecorded(ctx: ServiceContext): Promise<{recording: Recording; missing: Move[]; createdAt: bigint}[]> {
  const lists = await readLists(ctx)
  if (lists.size === 0) return []
  const existing = new Set((await listMoves(ctx)).map((m) => m.value.id))
  return [...lists].map(([plan, list]) => {
    const pages = list.map((p) => p.value)
    const whole = isWhole(pages)
    const named = whole ? pages.flatMap((p) => p.moves) : []
    const missing = named.filter((m) => !existing.has(m.id))
    const createdAt = list.reduce((min, p) => (p.createRevision < min ? p.createRevision : min), list[0]!.createRevision)
    return {recording: {plan, named: named.length, recorded: named.length - missing.length, whole}, missing, createdAt}
  })
}

/** unrecordedText is the one line that says a plan's moves are not all recorded and what to run (nothing while a running apply records them). */
export function unrecordedText(r: Recording): string {
  if (r.recordingBy !== undefined) {
    if (!r.whole) return `plan ${r.plan}: its moves are being listed for recording by a running apply (${r.recordingBy}); none is recorded yet`
    return `plan ${r.plan}: ${r.named - r.recorded} of its ${r.named} confirmed move(s) are not recorded yet: they are being recorded by a running apply (${r.recordingBy})`
  }
  if (!r.whole) return `plan ${r.plan}: an apply was stopped while it listed the moves to record; none was recorded (apply the plan again; the next executor deletes the list)`
  return `plan ${r.plan}: ${r.named - r.recorded} of its ${r.named} confirmed move(s) are not recorded yet (apply was stopped while recording them): \`shardctl apply --resume\` records and runs them`
}

/** recordBatches creates the move records in transactions of RECORD_BATCH, each fenced and refusing an existing record; with `list`, the last also deletes the plan's list. */
async function recordBatches(ctx: ServiceContext, lock: HeldLock, plan: string, moves: Move[], list: boolean): Promise<void> {
  for (let i = 0; i < moves.length; i += RECORD_BATCH) {
    const batch = moves.slice(i, i + RECORD_BATCH).map((m) => ({key: ctx.keys.move(m.id), value: JSON.stringify(m)}))
    const last = i + RECORD_BATCH >= moves.length
    const rev = await ctx.store.commit({compares: [lock.fence, ...batch.map((p) => ({key: p.key, createRevision: 0n}))], puts: batch, ...(list && last ? {deletePrefixes: [ctx.keys.recordingOf(plan)]} : {})})
    if (rev === undefined) throw new UserError('CONFLICT', `moves of plan ${plan} were recorded concurrently, or the executor lost its lock`, 'run `shardctl apply --resume`: it records what is missing and runs them')
  }
}

/**
 * readLists reads every `recording/` page, grouped by plan, in page order: {@link READ_PAGES}
 * pages a request, all at one revision. Ordered by each page's `page` field, not by key:
 * older builds padded page numbers to 4 digits, whose keys sort page 10000 before 1001.
 */
async function readLists(ctx: ServiceContext): Promise<Map<string, Typed<RecordingPage>[]>> {
  const {items} = await ctx.store.listTyped(ctx.keys.recordingPrefix, RecordingPageSchema, {pageSize: READ_PAGES})
  const lists = new Map<string, Typed<RecordingPage>[]>()
  for (const item of items) {
    const list = lists.get(item.value.plan)
    if (list) list.push(item)
    else lists.set(item.value.plan, [item])
  }
  for (const list of lists.values()) list.sort((a, b) => a.value.page - b.value.page)
  return lists
}

/** isWhole: every page 0..pages-1 is there (pages are written before any move; only a kill leaves some). */
function isWhole(pages: RecordingPage[]): boolean {
  const n = pages[0]?.pages ?? 0
  return pages.length === n && pages.every((p, i) => p.page === i && p.pages === n)
}

function lockLost(plan: string): UserError {
  return new UserError('CONFLICT', `the executor lost its lock while recording the moves of plan ${plan}`, 'run `shardctl apply --resume`: it records what is missing and runs them')
}
