import {type Move, type MovePhase} from '../model/move.js'
import {type Shard} from '../model/shard.js'
import {parseMoveCursor} from './moveCursor.js'

/**
 * resumePhaseOfFailed (pure) is the phase `apply --resume` runs a `failed` redis move in again,
 * or undefined when it must stay failed. A redis move is recorded `failed` only by the executor
 * giving up on it (runs that kept failing, or a master it names failed over): its cursor still
 * says where it stood, every step of the runner reads Redis's own state and is idempotent, and
 * the shard record changes owner only when the move ends `done`. So it resumes from its cursor:
 * `copying` (forward), `aborting` (a cancel was returning slots), or `pending` when it failed
 * before its first slot. It stays failed when the records moved on since: the shard is gone,
 * its epoch is not the one the move started from, it is recorded on another master than the
 * move's source, or another move of it is unfinished (a later plan took it over).
 */
export function resumePhaseOfFailed(move: Move, shard: Shard | undefined, busyShards: ReadonlySet<number>): MovePhase | undefined {
  if (move.phase !== 'failed') return undefined
  if (!shard || shard.epoch !== move.baseEpoch || shard.replicas[0]?.node !== move.from || busyShards.has(move.shard)) return undefined
  const cursor = parseMoveCursor(move.progress.cursor)
  if (!cursor) return 'pending'
  return cursor.dir === 'fwd' ? 'copying' : 'aborting'
}
