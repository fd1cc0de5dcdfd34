import {type Move} from '../model/move.js'
import {hasOwnKey} from '../model/ownKey.js'
import {dataDirOf, type ObservedClaim} from './verifiedDirs.js'

/**
 * The executor's side of a `moves abandon-voters` mark (pure; votersAbandon.ts judges and sets it): which voters down it
 * covers, and when it is outlived (withdrawn: the voters it judged gone are not). The move machine (moveMachine.ts
 * refillWithoutSource, refillAfterDrop, decideMove) asks these; the runner reads the staying voters' claims while a
 * mark is set.
 */

/** VotersMarked is the part of a move a voters' mark lives in. */
export type VotersMarked = Pick<Move, 'abandonVotersRequested' | 'abandonVotersDirs'>

/**
 * votersMarkCovers tells whether the operator's `moves abandon-voters` mark is set and names every voter of `down` (a
 * mark from before session 41 names none: it covers them all). A voter down that it does not name (one that went down
 * after the mark) was judged gone by nobody: the refill waits for it. Own keys only: "constructor" is a valid node id.
 */
export function votersMarkCovers(move: VotersMarked, down: readonly string[]): boolean {
  if (move.abandonVotersRequested === undefined) return false
  const named = move.abandonVotersDirs
  return named === undefined || down.every((n) => hasOwnKey(named, n))
}

/**
 * votersMarkOutlived lists the voters whose return refutes the mark (sorted), or undefined while it stands. The mark judged
 * its voters gone for good; it is outlived, before a refill honoured it, when:
 * - one it names registered again on the data dir it had, and is down again now: its claim (never leased, it outlives the
 *   process) names that data dir under another process instance than the mark recorded. Its copy is on disk and it came
 *   back once; until session 42 such a return between two looks of the executor went unseen, the mark stood, and the
 *   refill went on without a copy that was there (fenced on its lease being absent, which it was again);
 * - every one it names is up, each on the data dir it had: they count again (a refill reads them).
 * One back on another data dir (a replaced disk) lost its copy: the mark stands for it. One with no readable claim at the
 * mark, or none read now, is not judged. Up on its data dir while another named one stays down, it is read and the mark
 * stands for the other.
 */
export function votersMarkOutlived(move: VotersMarked, alive: ReadonlySet<string>, claims: ReadonlyMap<string, ObservedClaim> | undefined): string[] | undefined {
  const named = move.abandonVotersDirs
  if (move.abandonVotersRequested === undefined || named === undefined) return undefined
  const nodes = Object.keys(named).sort()
  const onItsDir = (n: string): boolean => {
    const was = named[n]
    const now = claims?.get(n)?.token
    return was !== null && was !== undefined && now !== undefined && dataDirOf(now) === dataDirOf(was)
  }
  const returned = nodes.filter((n) => !alive.has(n) && onItsDir(n) && claims?.get(n)?.token !== named[n])
  if (returned.length > 0) return returned
  return nodes.length > 0 && nodes.every((n) => alive.has(n) && onItsDir(n)) ? nodes : undefined
}

/** votersMarkWithdrawal is what withdrawing an outlived mark writes (the mark cleared) and tells the operator. */
export function votersMarkWithdrawal(move: Pick<Move, 'id'> & VotersMarked, outlived: readonly string[], alive: ReadonlySet<string>): {patch: Partial<Move>; note: string} {
  const downAgain = outlived.filter((n) => !alive.has(n))
  const said =
    downAgain.length > 0
      ? `came back on their data dirs since the mark and are down again (${downAgain.join(', ')}): not gone for good; the mark is withdrawn and the refill waits for them`
      : 'are up again on their data dirs; the mark is withdrawn and they are read'
  return {
    patch: {abandonVotersRequested: undefined, abandonVotersDirs: undefined},
    note: `move ${move.id}: staying voter(s) ${outlived.join(', ')} marked abandoned ${said} (\`moves abandon-voters\` marks them again)`,
  }
}
