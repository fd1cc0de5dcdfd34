import {parseBytes} from '../model/units.js'

/**
 * The pure decisions behind the node's disk reserve (see DiskReserve in diskReserve.ts):
 * how large it is, when it is given up and when it comes back. No I/O here, so each rule is
 * unit-tested on numbers alone.
 */

/** DISK_RESERVE_AUTO_MAX_BYTES caps the default reserve: enough room for the WAL a drop writes between checkpoints, little enough to go unnoticed on a real disk. */
export const DISK_RESERVE_AUTO_MAX_BYTES = 64 * 1024 * 1024

/** DISK_RESERVE_AUTO_FRACTION: the default reserve is this share of the data dir's file system (capped above), so a small disk does not give a large share away. */
export const DISK_RESERVE_AUTO_FRACTION = 0.01

/** DISK_RESERVE_ROUND_BYTES: a reserve size is a whole number of these (written in chunks of it). */
export const DISK_RESERVE_ROUND_BYTES = 64 * 1024

/**
 * DiskReserveSetting is the `--disk-reserve` flag: a size in bytes (0 turns the reserve off)
 * or `auto` (the default: {@link DISK_RESERVE_AUTO_FRACTION} of the file system, at most
 * {@link DISK_RESERVE_AUTO_MAX_BYTES}).
 */
export type DiskReserveSetting = number | 'auto'

/**
 * parseDiskReserve reads a `--disk-reserve` value: `auto`, or a size (`64MiB`, `1GiB`,
 * `0` to turn the reserve off). Throws RangeError naming the value and the accepted forms.
 */
export function parseDiskReserve(input: string): DiskReserveSetting {
  if (input.trim().toLowerCase() === 'auto') return 'auto'
  try {
    return parseBytes(input)
  } catch {
    throw new RangeError(`"${input}" is not a disk reserve size; use auto, 0 (off) or a size such as 64MiB`)
  }
}

/**
 * reserveTarget is the reserve size in bytes for `setting` on a file system of
 * `fsTotalBytes`, rounded down to whole {@link DISK_RESERVE_ROUND_BYTES} (0: no reserve).
 * An explicit size is taken as given (a size the disk cannot hold is simply never created,
 * see {@link reserveAction}); `auto` scales with the disk.
 */
export function reserveTarget(setting: DiskReserveSetting, fsTotalBytes: number): number {
  const wanted = setting === 'auto' ? Math.min(DISK_RESERVE_AUTO_MAX_BYTES, fsTotalBytes * DISK_RESERVE_AUTO_FRACTION) : setting
  return Math.max(0, Math.floor(wanted / DISK_RESERVE_ROUND_BYTES) * DISK_RESERVE_ROUND_BYTES)
}

/**
 * recreateMargin is how much must stay free beyond the reserve itself before it is made
 * again: as much as the reserve. Re-creating it the moment it just fits would leave the disk
 * at zero free, and the very next client write would be refused: the space an operator (or
 * a drop) freed is for writes first. The reserve therefore comes back only once the file
 * system has twice its size free, and the node keeps at least the reserve's size free after
 * making it.
 */
export function recreateMargin(target: number): number {
  return target
}

/** ReserveState is what {@link reserveAction} decides on: the target size, the size of the file held now (0: none) and the file system's free bytes (statfs: bavail × bsize). */
export interface ReserveState {
  target: number
  held: number
  freeBytes: number
  /** spending: a freeing operation gave the reserve up and still runs; its room is not to be taken back under it. */
  spending: boolean
}

/**
 * ReserveAction: `keep` (held at its target, or nothing to do), `create` (make the file at
 * the target size now, replacing a smaller one), `shrink` (a file larger than the target: cut
 * it to the target in place, its blocks staying allocated), `remove` (a file while the reserve
 * is turned off), `wait` (none held or a smaller one, and not room enough to make one of the
 * target size yet).
 */
export type ReserveAction = 'keep' | 'create' | 'shrink' | 'remove' | 'wait'

/**
 * reserveAction decides what the node does with its reserve file, at start and every check
 * after. A file of another size than the target (the flag changed, or `auto` sized from a file
 * system whose total moved) is not simply removed: at start on a nearly full disk that would
 * give up the very room a drop needs, and it would not be made again until twice its size is
 * free. A larger one is cut to the target, a smaller one is held until one of the target size
 * fits. None is made while a freeing operation spends the room the last one left (`spending`),
 * nor until the file system has the target plus {@link recreateMargin} free.
 */
export function reserveAction(s: ReserveState): ReserveAction {
  if (s.target === 0) return s.held > 0 ? 'remove' : 'keep'
  if (s.held > s.target) return 'shrink'
  if (s.held === s.target) return 'keep'
  if (s.spending) return 'wait'
  return s.freeBytes >= s.target + recreateMargin(s.target) ? 'create' : 'wait'
}

/**
 * FullRetry is what a freeing operation (a drop, an abort's drop, an orphan sweep, a
 * tombstone purge) does after one of its transactions found no room: `release` (give the
 * reserve up, then try the transaction again), `checkpoint` (no reserve left: checkpoint the
 * WAL so its next commit restarts it and reuses the file's own space, then try again once)
 * or `fail` (neither helped: the caller gets the full-disk error).
 */
export type FullRetry = 'release' | 'checkpoint' | 'fail'

/**
 * fullRetry decides a freeing transaction's next step after SQLITE_FULL: `reserveHeld`
 * bytes of reserve are on disk; `checkpointed` is true when this transaction was already
 * retried after a checkpoint. Client writes never come here: they fail with the full-disk
 * error and never release the reserve, so the room it keeps is there for freeing alone.
 */
export function fullRetry(reserveHeld: number, checkpointed: boolean): FullRetry {
  if (reserveHeld > 0) return 'release'
  return checkpointed ? 'fail' : 'checkpoint'
}
