import {type MoveWarning, UNCHECKED_WARNING_KEY} from '../model/move.js'
import {type RedisMoveCursor} from './moveCursor.js'

/**
 * A master restarted while a move had slots in flight on it comes back from its nodes.conf
 * with its slots and MIGRATING/IMPORTING marks, and with only the data it had persisted:
 * without an append-only file, its last RDB snapshot or nothing. A target restarted so has
 * lost the keys migrated to it (slots already closed there, and the part of the open slot
 * that had moved); a source, the keys of the slots it had not given away yet. That loss is
 * Redis's own, and the move itself goes on (every key still on the other side is migrated as
 * usual); but it used to end `done` with nothing said, and the operator learnt of the loss from
 * clients. The runner compares the run_ids its cursor recorded (srcRun, dstRun) with the ones
 * the masters report when a run starts (a restart breaks the runner's connections, so the run
 * fails and the next one starts), and records what restartWarning returns on the move.
 * Pure; the runner reads the run_ids and the persistence.
 */

/** MoveSide is one master of a move as the runner sees it now: which end it is, and its run_id. */
export interface MoveSide {
  node: string
  address: string
  /** role: `source` is the move's `from`, `target` its `to` (whichever way the slots go now). */
  role: 'source' | 'target'
  run: string
  /** uptimeSec is how long its redis-server process has run (INFO server uptime_in_seconds); absent when not read. */
  uptimeSec?: number
}

/** Persistence is what a restarted master reports of how it came back (INFO persistence). */
export interface Persistence {
  /** aof: appendonly is on, so it reloaded its log: a process restart loses nothing it acknowledged. */
  aof: boolean
  /** keysLoaded: keys it loaded at start (rdb_last_load_keys_loaded), null when the server does not say. */
  keysLoaded: number | null
}

/**
 * RestartedSide is a side whose run_id is not the one the cursor recorded: `before` is the
 * recorded one ('' when the cursor recorded none and its uptime showed the restart:
 * unrecordedSides, which also gives `startedAfterSec`, how long after the copy's start it
 * started by the two executors' clocks it compared).
 */
export interface RestartedSide extends MoveSide {
  before: string
  startedAfterSec?: number
}

/**
 * UncheckedSide is a side whose restart while the move ran cannot be told (unrecordedSides):
 * without `startedBeforeSec`, its uptime or the copy's start is unknown; with it, it started that
 * many seconds before the copy began only as this executor's clock compares with the clock of
 * the executor that began the copy, which a skew between their hosts of as much could reverse.
 */
export interface UncheckedSide extends MoveSide {
  startedBeforeSec?: number
}

/**
 * CLOCK_GAP_TRUSTED_MS is how far apart the clocks of two executor hosts are assumed never to
 * be: a side that started more than this before the copy began (by this executor's clock
 * against the starting executor's) is taken as not restarted since, without a word. Hosts
 * without any time sync are not covered; NTP keeps hosts within milliseconds.
 */
export const CLOCK_GAP_TRUSTED_MS = 5 * 60_000

/**
 * restartedSides returns the sides of a move whose run_id differs from the one `cursor`
 * recorded for them: `srcRun` names the side the slots leave (the source going `fwd`, the
 * target going `back`), `dstRun` the side they go to. A run_id the cursor lacks (a record
 * written before it was kept) is not compared.
 */
export function restartedSides(cursor: RedisMoveCursor, source: MoveSide, target: MoveSide): RestartedSide[] {
  return recordedRuns(cursor, source, target)
    .filter(([side, before]) => before !== undefined && before !== side.run)
    .map(([side, before]) => ({...side, before: before!}))
}

/** recordedRuns pairs each side with the run_id `cursor` recorded for it (`srcRun` is the side the slots leave). */
function recordedRuns(cursor: RedisMoveCursor, source: MoveSide, target: MoveSide): [MoveSide, string | undefined][] {
  const fwd = cursor.dir === 'fwd'
  return [
    [source, fwd ? cursor.srcRun : cursor.dstRun],
    [target, fwd ? cursor.dstRun : cursor.srcRun],
  ]
}

/**
 * unrecordedSides judges the sides whose run_id `cursor` lacks (a record written by a build
 * before it kept that side's: `dstRun` is newer than `srcRun`), which restartedSides cannot
 * compare. Only clocks are left: the side's process start is `now` (this executor's clock) less
 * its uptime (Redis's own measure of a duration), and the copy's start (`copyStartedAt`) is the
 * clock of the executor that began the copy, maybe on another host. A start after the copy's
 * (by over half a second: the uptime is the difference of two whole-second clocks, up to a
 * second more than the time since the start) means it restarted while the move ran:
 * `restarted`, with `before` '' and the gap. One that started before is taken as not restarted
 * only when it started more than CLOCK_GAP_TRUSTED_MS before; nearer, the two clocks would only
 * need to be that far apart to hide a restart (this executor's clock behind the starter's makes
 * a restart look older), so it is `unchecked` with the gap, told rather than judged. Before, any
 * start before the copy's was silence: with this executor's clock 2 minutes behind, a target
 * restarted 10 s into the copy, keys lost, went unsaid. Without its uptime or the copy's start
 * the window is `unchecked` too. A restart within about 1.5 s after the copy's start (or 0.5 s
 * before it), before much could have moved, may go either way.
 */
export function unrecordedSides(cursor: RedisMoveCursor, source: MoveSide, target: MoveSide, at: {copyStartedAt: number | null; now: number}): {restarted: RestartedSide[]; unchecked: UncheckedSide[]} {
  const out = {restarted: [] as RestartedSide[], unchecked: [] as UncheckedSide[]}
  for (const [side, before] of recordedRuns(cursor, source, target)) {
    if (before !== undefined) continue
    if (side.uptimeSec === undefined || at.copyStartedAt === null) {
      out.unchecked.push(side)
      continue
    }
    const gapMs = at.now - side.uptimeSec * 1000 - at.copyStartedAt
    if (gapMs - 500 > 0) out.restarted.push({...side, before: '', startedAfterSec: Math.round(gapMs / 1000)})
    else if (-gapMs <= CLOCK_GAP_TRUSTED_MS) out.unchecked.push({...side, startedBeforeSec: Math.max(0, Math.round(-gapMs / 1000))})
  }
  return out
}

/**
 * uncheckedWarning is the MoveWarning recorded on move `move` for a side whose restart cannot be
 * told (unrecordedSides' `unchecked`): the run resumed a record without its run_id, and either
 * without the time the copy began (or its uptime), or with a start before the copy's that only
 * the two executors' clocks tell apart (`startedBeforeSec`: the gap they would have to be apart
 * to hide a restart). Not a loss (mayHaveLostData false): the operator learns which window
 * nobody could check. From this run on the cursor records its run_id, so later restarts are told.
 */
export function uncheckedWarning(input: {move: string; side: UncheckedSide; at: string}): MoveWarning {
  const {side} = input
  const head = `move ${input.move}: resumed from a record written before shardctl kept the run_id of ${side.node} (its ${side.role}, ${side.address}), so whether it restarted between the move's start and ${input.at} cannot be told`
  const why =
    side.startedBeforeSec === undefined
      ? `; if it did, without appendonly, keys of the move it held may be lost`
      : ` for sure: by its uptime it started ${side.startedBeforeSec} s before the move's copy began, comparing this executor's clock with the one of the executor that began the copy (maybe another host): if that clock ran more than ${side.startedBeforeSec} s ahead of this one, it restarted while the move ran and, without appendonly, keys of the move it held may be lost`
  return {key: `${UNCHECKED_WARNING_KEY}${side.node}:${side.run}`, at: input.at, text: `${head}${why}. Restarts from now on are told (run_id ${side.run.slice(0, 8)} recorded)`, mayHaveLostData: false, node: side.node}
}

/**
 * slotsHeld lists the slots of [first, end) that `role` held of the move when `cursor` was
 * written: the target, those already moved to it (and the open one); the source, the rest
 * (and the open one). Ascending.
 */
export function slotsHeld(cursor: RedisMoveCursor, role: 'source' | 'target', first: number, end: number): number[] {
  // Going `fwd`, slots below `next` are on the target; going `back`, slots above `next` are back on the source.
  const [lo, hi] =
    cursor.dir === 'fwd'
      ? role === 'target'
        ? [first, cursor.open ? cursor.next : cursor.next - 1]
        : [cursor.next, end - 1]
      : role === 'target'
        ? [first, cursor.next]
        : [cursor.open ? cursor.next : cursor.next + 1, end - 1]
  const out: number[] = []
  for (let slot = Math.max(lo, first); slot <= Math.min(hi, end - 1); slot++) out.push(slot)
  return out
}

/** OwnView is what a master says of itself in CLUSTER NODES: the slots it serves and those it marks MIGRATING or IMPORTING. */
export interface OwnView {
  slots: Iterable<number>
  marked: Iterable<number>
}

/**
 * slotsAtRisk lists the slots of [first, end) whose keys a restarted master may have lost:
 * every one it serves, or has open, by its own CLUSTER NODES view after the restart (`view`),
 * and the one the cursor left open. The view, not the cursor, is the measure: the cursor is
 * written before each slot holding keys and at most once a second otherwise, so while empty
 * slots pass (up to EMPTY_SLOT_BATCH of them opened and assigned together) it names a slot well
 * behind the last one the target took, and clients write to every slot a master serves. A
 * master keeps its slots and marks in nodes.conf (saved on each change), so its view after the
 * restart is what it held when it went down; nothing of the move changed since (the restart
 * broke the run's connections, and this run looks before sending anything). Without a view
 * (unreadable), the cursor's slotsHeld. Ascending.
 */
export function slotsAtRisk(cursor: RedisMoveCursor, role: 'source' | 'target', first: number, end: number, view: OwnView | null): number[] {
  if (view === null) return slotsHeld(cursor, role, first, end)
  const at = new Set<number>()
  for (const slot of [...view.slots, ...view.marked]) if (slot >= first && slot < end) at.add(slot)
  if (cursor.open && cursor.next >= first && cursor.next < end) at.add(cursor.next)
  return [...at].sort((a, b) => a - b)
}

/** MAX_RANGES_NAMED bounds how many runs of slots a warning spells out: a shard of 16,384 alternating slots must not make a record of 80 KB. */
export const MAX_RANGES_NAMED = 8

/**
 * slotList names ascending `slots` as runs, `slots 0-511, 700` (one slot: `slot 700`), at most
 * `max` runs, then how many more (`… and 3 more runs, 1,030 slots in all`); null when empty.
 */
export function slotList(slots: readonly number[], max = MAX_RANGES_NAMED): string | null {
  if (slots.length === 0) return null
  const runs: [number, number][] = []
  for (const slot of slots) {
    const last = runs[runs.length - 1]
    if (last && slot === last[1] + 1) last[1] = slot
    else if (!last || slot > last[1]) runs.push([slot, slot])
  }
  const named = runs.slice(0, max).map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`))
  const more = runs.length > max ? `, … and ${runs.length - max} more run(s), ${slots.length} slots in all` : ''
  return `${slots.length === 1 ? 'slot' : 'slots'} ${named.join(', ')}${more}`
}

/**
 * restartWarning is the MoveWarning recorded on move `move` for `side`, found restarted since
 * `cursor` was written: which master, its run_ids, the slots of the move it held (slotsAtRisk,
 * from its own `view` after the restart; slotList bounds the text), and what its
 * persistence says was lost. Without appendonly it may have lost acknowledged keys
 * (mayHaveLostData: `apply` exits POSSIBLE_DATA_LOSS); with it, a process restart lost none.
 * Keyed by the master and its new run_id, so a later run finding the same restart adds nothing.
 */
export function restartWarning(input: {move: string; side: RestartedSide; persistence: Persistence; cursor: RedisMoveCursor; first: number; end: number; view: OwnView | null; other: {node: string}; at: string}): MoveWarning {
  const {side, persistence, cursor, other} = input
  const held = slotList(slotsAtRisk(cursor, side.role, input.first, input.end, input.view))
  const loaded = persistence.keysLoaded === null ? '' : `, ${persistence.keysLoaded} key(s) loaded`
  // A record without its run_id: the process's uptime showed the restart (unrecordedSides).
  // The gap compares two executors' clocks, maybe of two hosts: say so, and how far apart they would have to be to make it wrong.
  const gap = side.startedAfterSec === undefined ? '' : `; ${side.startedAfterSec} s after the copy's start by this executor's clock against the one of the executor that began it (wrong only if those clocks are more than ${side.startedAfterSec} s apart)`
  const runs = side.before === '' ? `started ${side.uptimeSec ?? '?'} s ago, after the move began, by its uptime: the record predates run_id tracking${gap}; run_id now ${side.run.slice(0, 8)}` : `run_id ${side.before.slice(0, 8)} -> ${side.run.slice(0, 8)}`
  const head = `move ${input.move}: ${side.node} (its ${side.role}, ${side.address}) restarted while the move ran (${runs}${loaded})`
  const what = held ? `the keys of ${held} it held` : 'the keys it held'
  const text = persistence.aof
    ? `${head}; it runs with appendonly, so it reloaded its log: a process restart loses no write it acknowledged (a machine crash may lose what appendfsync had not synced)`
    : `${head} without appendonly: it came back with its last RDB snapshot or empty, so ${what} that the snapshot did not (every one without a snapshot) are lost, Redis's own loss, which the move cannot undo; the move went on with the keys still on ${other.node}. Check the lost keys against your source of truth`
  return {key: `restart:${side.node}:${side.run}`, at: input.at, text, mayHaveLostData: !persistence.aof, node: side.node}
}

/** parsePersistence reads {@link Persistence} from the text of `INFO persistence`. */
export function parsePersistence(info: string): Persistence {
  const aof = /^aof_enabled:(\d+)/m.exec(info)?.[1]
  const loaded = /^rdb_last_load_keys_loaded:(\d+)/m.exec(info)?.[1]
  return {aof: aof === '1', keysLoaded: loaded === undefined ? null : Number(loaded)}
}
