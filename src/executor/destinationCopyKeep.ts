import {type Move} from '../model/move.js'
import {effectiveWriteQuorum} from '../model/writeFloor.js'
import {chooseCopySources} from './copySources.js'

/** DestinationCopyInput is what {@link destinationCopyKeep} looks at: the move, and the shard and cluster as observed now. */
export interface DestinationCopyInput {
  move: Pick<Move, 'id' | 'shard' | 'from' | 'to'>
  /** voters are the shard's read voters now, the destination gone from the shard (the old set O: the source and the staying voters). */
  voters: readonly string[]
  alive: ReadonlySet<string>
  /** writeQuorums: every write quorum a write of the shard may have been acknowledged with (writeQuorumsEver); undefined when not read: unknown, counted as w = 1. */
  writeQuorums: readonly (number | null | undefined)[] | undefined
  /**
   * sourceDirReplaced: the source is up, but under another data dir than the one its copy was last compared under
   * (verifiedDirs.ts; a replaced disk served with --accept-empty-data). It holds none of what was compared, so it counts
   * as down here: up, it ends no wait.
   */
  sourceDirReplaced?: boolean
  /**
   * sourceDirUnknown: the source is up, but nothing recorded the data dir its copy was compared under (`aborting`:
   * verifiedDirs is written at cutover), so a replaced, empty dir cannot be told from its own. It counts as down here
   * like a replaced one: at w = 1 the voters up, it included, are repaired from the copy before it is dropped.
   */
  sourceDirUnknown?: boolean
  /**
   * sourceMayDie: `rb-cutover`, the source up on the dir its copy was compared under. At w = 1 it may die for good between
   * this look and the drop (the drop is a node request, not fenced on its lease), taking the only other copy of a write
   * acknowledged by it and the destination alone; so at w = 1 the voters up are repaired from the copy before every drop
   * (session 41; `aborting` does so through sourceDirUnknown). With w >= 2 it changes nothing.
   */
  sourceMayDie?: boolean
  /**
   * replacedVoters: staying voters (neither the source nor the destination) that serve another data dir than the one they
   * served at cutover (`stayingDirs`; moveMachine.ts replacedStayingVoters): up or not, they lost what they acknowledged,
   * so they count as down here, and with the source up at w >= 2 its death before the drop would leave a write on no
   * other holder when too few of the rest are left (session 42's hunt; until then they counted as holders).
   */
  replacedVoters?: readonly string[]
}

/**
 * destinationCopyKeep (pure) judges whether a move's destination, once it has left the shard
 * (an abort, or a rollback's last step), may drop its copy of the range: undefined when it
 * may, else the reason it is kept (the move waits, keeping it).
 *
 * Why: the destination is sent every write of the shard from `joining` on, and from its
 * promotion (or a rollback's flip back) its answer counts in the joint quorum. A write acknowledged
 * by the source alone (w = 1: a learner's apply is never awaited) or by the source and the
 * destination alone (the joint quorum at w = 1: one of the old set, one of the new) may be on
 * those two copies and no other voter. With the source down the destination's copy is then the
 * only one up of it, and dropping it leaves the write on a node that may never come back.
 *
 * The rule is the one a move whose source is down copies by ({@link chooseCopySources}): the
 * source up, or, with it down, w >= 2 and the voters up leaving fewer than w of the old set
 * out, so every acknowledged write is on one of them; otherwise the copy is kept, and the move
 * repairs the voters up from it before dropping it (moveMachine.ts dropKeptCopy, keptCopyRepair.ts;
 * until session 40 it waited for the source, or enough voters, to be back). At rf 1 (no read voter up at all) this is the wait session
 * 38 added to `rb-cutover` alone (`rollbackLastCopyUp`, which it replaces).
 */
export function destinationCopyKeep(input: DestinationCopyInput): string | undefined {
  const {move, voters} = input
  // A source back on a replaced dir lacks every write it acknowledged before: for the rule it is down (session 39).
  const replaced = input.sourceDirReplaced === true && input.alive.has(move.from)
  // Before cutover its dir was never recorded: a replaced one cannot be told apart, so it may lack what it acknowledged.
  const unknown = !replaced && input.sourceDirUnknown === true && input.alive.has(move.from)
  const lost = new Set(input.replacedVoters ?? [])
  const alive = new Set([...input.alive].filter((n) => !lost.has(n) && !((replaced || unknown) && n === move.from)))
  const routerW = input.writeQuorums ?? [undefined]
  const d = chooseCopySources({shard: move.shard, from: move.from, to: move.to, oldSet: voters, alive, routerW})
  const w = effectiveWriteQuorum(voters.length, routerW)
  if (d.kind === 'copy') {
    if (input.sourceMayDie !== true || !alive.has(move.from)) return undefined
    if (w > 1) {
      // Every voter but the source and the replaced ones counted as holding (a down one keeps its copy on disk): at w >= 2
      // they hold every acknowledged write unless a replaced voter left too few of them.
      const holders = new Set(voters.filter((n) => n !== move.from && !lost.has(n)))
      if (lost.size === 0 || chooseCopySources({shard: move.shard, from: move.from, to: move.to, oldSet: voters, alive: holders, routerW}).kind === 'copy') return undefined
      return `${move.to}'s copy of shard ${move.shard} is kept until the voters up are repaired from it: ${move.from} (the source of move ${move.id}) is up, but ${[...lost].sort().join(', ')} ${lost.size === 1 ? 'serves' : 'serve'} another data dir than at cutover (what ${lost.size === 1 ? 'it' : 'they'} acknowledged is gone), so with w = ${w} a write acknowledged by ${move.from}, ${move.to} and ${lost.size === 1 ? 'it' : 'them'} is on no other voter, and ${move.from} may die for good before the drop`
    }
    return `${move.to}'s copy of shard ${move.shard} is kept until the voters up are repaired from it: ${move.from} (the source of move ${move.id}) is up, but writes of it may have been acknowledged with w = 1 (the cluster's write floor), one by ${move.from} and ${move.to} alone is on no other voter, and ${move.from} may die for good before the drop`
  }
  const down = voters.filter((n) => !alive.has(n))
  const live = voters.filter((n) => alive.has(n))
  const why =
    w <= 1
      ? `writes of it may have been acknowledged with w = 1 (the cluster's write floor): one acknowledged by ${move.from} alone, or by ${move.from} and ${move.to} alone, is on no other voter`
      : `with w = ${w}, the voters up (${live.length > 0 ? live.join(', ') : 'none'}) could miss a write acknowledged while ${down.join(', ')} took it${lost.size > 0 ? ` (${[...lost].sort().join(', ')} on another data dir than at cutover: what ${lost.size === 1 ? 'it' : 'they'} acknowledged is gone)` : ''}`
  // At w = 1 only the source ends the wait; with w >= 2 the source, or enough of the other voters down, back up.
  const back = replaced ? `${move.from} is back on the data dir its copy was compared under` : unknown ? `${move.from}'s copy is compared again` : `${move.from} is back`
  const until = w <= 1 ? `${back} (start it)` : `${back}, or enough of ${down.join(', ')} that fewer than ${w} of the old set are down (start them)`
  const state = replaced
    ? 'serves another data dir than the one its copy was compared under (it lacks what it acknowledged before)'
    : unknown
      ? 'is up on a data dir no comparison recorded (before cutover none is: a replaced, empty one lacks what it acknowledged)'
      : 'is down'
  return `${move.to}'s copy of shard ${move.shard} is kept: it may be the only one up of an acknowledged write, since ${move.from} (the source of move ${move.id}) ${state}${down.length > 1 ? ` with ${down.filter((n) => n !== move.from).join(', ')}` : ''} and ${why}; it is dropped once ${until}`
}
