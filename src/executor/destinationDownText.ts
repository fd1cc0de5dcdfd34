import {type Move} from '../model/move.js'

/**
 * DestinationDownFacts are what makes the staying voters up of a move in `cleanup` not enough to hold every acknowledged
 * write, as the machine observed them (moveMachine.ts stayingVotersEnough).
 */
export interface DestinationDownFacts {
  /** staying: the shard's voters but the source and destination (none: rf 1). */
  staying: readonly string[]
  /** w: the smallest write quorum a router may have acknowledged a write with; `wKnown` false: not read, counted as 1. */
  w: number
  wKnown: boolean
  /** replaced: staying voters up on another data dir than at the cutover (`stayingDirs`). */
  replaced: readonly string[]
  /** down: staying voters without a live lease. */
  down: readonly string[]
}

/**
 * destinationDownReasons (pure) names, from `facts`, every reason the staying voters up may not hold every acknowledged
 * write: rf 1, a write quorum of 1, a voter on a replaced data dir, a voter down. Never empty: with none of them it says
 * the voters up are too few for the write quorum.
 */
export function destinationDownReasons(facts: DestinationDownFacts): string[] {
  if (facts.staying.length === 0) return ['rf 1: no other voter holds the shard']
  const out: string[] = []
  if (facts.w <= 1) out.push(facts.wKnown ? 'a router may acknowledge a write with w = 1 (the cluster\'s write floor)' : 'the write quorums routers used could not be read (counted as w = 1)')
  const verb = (nodes: readonly string[], one: string, many: string) => `${nodes.join(', ')} ${nodes.length === 1 ? one : many}`
  if (facts.replaced.length > 0) out.push(`${verb(facts.replaced, 'serves', 'serve')} another data dir than at the cutover (replaced: what ${facts.replaced.length === 1 ? 'it' : 'they'} acknowledged is gone)`)
  if (facts.down.length > 0) out.push(`${verb(facts.down, 'is', 'are')} down`)
  if (out.length === 0) out.push(`with w = ${facts.w}, the staying voters up are too few`)
  return out
}

/** destinationDownMessage says why `cleanup` keeps the source's copy while the destination is down (the reasons `facts` hold), and what ends the wait. */
export function destinationDownMessage(move: Pick<Move, 'id' | 'from' | 'to'>, facts: DestinationDownFacts): string {
  return `move ${move.id}: destination ${move.to} is down in cleanup, and the staying voters up may not hold every acknowledged write (${destinationDownReasons(facts).join('; ')}): ${move.from}'s copy is kept, not dropped, until ${move.to} is back; start ${move.to} (if its disk is lost, on a new data dir with --accept-empty-data: it is refilled from ${move.from}'s whole copy)`
}
