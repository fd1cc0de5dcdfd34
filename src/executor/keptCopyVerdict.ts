import {type KeptCopyRepair, type Move} from '../model/move.js'
import {ownValue} from '../model/ownKey.js'
import {dataDirChanged, dataDirOf, type DirToken, type ObservedClaim} from './verifiedDirs.js'

/**
 * copyDirOf is the destination's claim its copy was last known under, for a move that keeps that copy outside the map
 * (pure): in `rb-cutover` the one its copy was compared under (verifiedDirs: the cutover's verification, or the rollback's
 * catch-up), in `aborting` the one it was promoted under (promotedDir: from then on its answer counted in the joint
 * quorum). Undefined: none recorded (a move recorded by an older build, a node without a claim): not judged.
 */
export function copyDirOf(move: Pick<Move, 'phase' | 'to' | 'verifiedDirs' | 'promotedDir'>): DirToken | undefined {
  return move.phase === 'rb-cutover' ? ownValue(move.verifiedDirs, move.to) : move.promotedDir
}

/**
 * copyReplaced tells whether the destination now serves another data dir than the one its copy was last known under
 * ({@link copyDirOf}; by data dir, not process: a plain restart keeps its copy). Such a copy is not the one that took the
 * writes: a repair from it reads what the new dir holds, and what only the old copy held (a write acknowledged at w = 1
 * by the source and the destination alone, the source down) is lost. Until session 41 that went untold: the repair found
 * nothing to give, and the move ended `aborted` or `rolledback` without a word.
 */
export function copyReplaced(move: Pick<Move, 'phase' | 'to' | 'verifiedDirs' | 'promotedDir'>, claims: ReadonlyMap<string, ObservedClaim> | undefined): boolean {
  const recorded = copyDirOf(move)
  const now = claims?.get(move.to)?.token
  return recorded !== undefined && now !== undefined && dataDirOf(now) !== dataDirOf(recorded)
}

/**
 * repairedVotersLost lists the voters the recorded repair wrote into that serve another data dir now (pure); `all` is
 * true when every one of them does (and there was one). Once the repair is recorded the copy's drop may have been sent,
 * so a voter restarted on a replaced dir after that cannot be repaired again from it: the copy's records are still held
 * by any repaired voter on its recorded dir (anti-entropy gives them back to the others), and by none when `all`.
 * A voter whose claim was not read is not judged (counted as holding its dir).
 */
export function repairedVotersLost(record: Pick<KeptCopyRepair, 'voters' | 'dirs'>, claims: ReadonlyMap<string, ObservedClaim> | undefined): {lost: string[]; all: boolean} {
  const judged = record.voters.filter((v) => ownValue(record.dirs, v) !== undefined)
  const lost = judged.filter((v) => dataDirChanged(record.dirs, v, claims))
  return {lost, all: judged.length > 0 && lost.length === judged.length}
}
