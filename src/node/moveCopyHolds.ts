import {z} from 'zod'
import {MOVE_PHASES, PHASE_TABLE} from '../model/move.js'
import {type HashRange, rangesOverlap} from '../model/range.js'
import {type Shard} from '../model/shard.js'

/**
 * MoveSideSchema is the part of a `moves/<id>` record the orphan sweep reads: which shard, its
 * two sides and its phase. Lenient on purpose (the phase any string, other fields ignored): a
 * record a newer build wrote must still keep the copies it names, not stop the node's sweep
 * from reading the others.
 */
export const MoveSideSchema = z.object({
  id: z.string(),
  shard: z.number().int().nonnegative(),
  from: z.string(),
  to: z.string(),
  phase: z.string(),
})

/** MoveSide is a validated {@link MoveSideSchema}. */
export type MoveSide = z.infer<typeof MoveSideSchema>

/**
 * unfinishedMovesOf (pure) keeps the moves that are not finished and name `node` as their
 * source or destination: the moves that may still need its copy of their shard's range
 * though the node holds no role in the shard (docs/moves.md, "A destination's copy with the
 * source down": `aborting` and `rb-cutover` keep the destination's copy after it left the
 * shard). A phase this build does not know (a newer build's) counts as unfinished.
 */
export function unfinishedMovesOf(moves: readonly MoveSide[], node: string): MoveSide[] {
  return moves.filter((m) => (m.from === node || m.to === node) && !isKnownTerminal(m.phase))
}

function isKnownTerminal(phase: string): boolean {
  return (MOVE_PHASES as readonly string[]).includes(phase) && PHASE_TABLE[phase as keyof typeof PHASE_TABLE].terminal
}

/**
 * OUTSIDE_MAP_PHASES are the phases in which a move may keep a copy on a node its shard no
 * longer lists: the destination removed from the shard, its drop still to come (`aborting`,
 * `rb-cutover`; kept while the source is down, until the voters up are repaired from it: src/executor/destinationCopyKeep.ts, keptCopyRepair.ts).
 */
const OUTSIDE_MAP_PHASES: ReadonlySet<string> = new Set(['aborting', 'rb-cutover'])

/**
 * moveHolding (pure) is the first of `moves` (unfinished, naming this node: {@link unfinishedMovesOf})
 * that may need this node's data of shard `shard`'s range: a move of that shard, or of a shard
 * whose range (as `shardOf` knows it) overlaps it, or of a shard `shardOf` does not know. A
 * move in {@link OUTSIDE_MAP_PHASES}, or in a phase this build does not know, holds every
 * range: once the destination left the shard, all its replicas are voters again and a split
 * may give the upper part of the range a new id, the move's own shard no longer covering it.
 * Undefined: none.
 */
export function moveHolding(shard: {id: number; range: HashRange}, moves: readonly MoveSide[], shardOf: (id: number) => Shard | undefined): MoveSide | undefined {
  return moves.find((m) => {
    if (m.shard === shard.id || OUTSIDE_MAP_PHASES.has(m.phase) || !(MOVE_PHASES as readonly string[]).includes(m.phase)) return true
    const moved = shardOf(m.shard)
    return moved === undefined || rangesOverlap(moved.range, shard.range)
  })
}

/**
 * copyKeptOutside (pure) is the first of `moves` that may keep a copy of shard `shard` outside its map: a move of that
 * shard in {@link OUTSIDE_MAP_PHASES}, or in a phase this build does not know (a newer build's). Undefined: none.
 * Anti-entropy purges no tombstone of such a shard (repairService.ts purgeShard): its voters are all voters again, but
 * the move will repair them from the copy it keeps (src/executor/keptCopyRepair.ts), and a purge's fence raises their gc
 * floors above the version of a write only that copy holds (acked at w = 1 by the source and the destination alone), so
 * the repair's apply would drop it as a value whose delete was purged, and the copy be dropped next: the write lost.
 */
export function copyKeptOutside(moves: readonly MoveSide[], shard: number): MoveSide | undefined {
  return moves.find((m) => m.shard === shard && (OUTSIDE_MAP_PHASES.has(m.phase) || !(MOVE_PHASES as readonly string[]).includes(m.phase)))
}

/**
 * keptCopyRefusal (pure) judges a read of this node's kept copy of shard `shard` named by move
 * `moveId` (protocol.ts KEPT_FOR_PARAM), the move record as read from etcd now: undefined when
 * the read may be answered, else why not. Answered only while the move, unfinished, keeps this
 * node's copy outside the shard's map: it names this node its destination and that shard, and
 * is in `aborting` or `rb-cutover` ({@link OUTSIDE_MAP_PHASES}). The caller has checked that the
 * node holds no role in the shard at the request's epoch. Why so narrow: a node with no role
 * refuses reads of a range (its data there is stray, or being dropped); the one copy worth
 * reading is the one a move keeps because it may be the only one up of an acknowledged write,
 * and only the executor running that move asks (to repair the shard's voters from it).
 */
export function keptCopyRefusal(move: MoveSide | undefined, moveId: string, node: string, shard: number): string | undefined {
  if (!move) return `no move ${moveId} keeps a copy here (no such move record)`
  if (move.to !== node || move.shard !== shard) return `move ${moveId} moves shard ${move.shard} to ${move.to}, not shard ${shard} to ${node}`
  if (!OUTSIDE_MAP_PHASES.has(move.phase)) return `move ${moveId} is ${move.phase}, not keeping ${node}'s copy outside the shard's map (aborting or rb-cutover)`
  return undefined
}
