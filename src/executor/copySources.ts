import {effectiveWriteQuorum} from '../model/writeFloor.js'

/** CopySourceInput is what the copy-source choice looks at, read just before copying. */
export interface CopySourceInput {
  shard: number
  /** from is the replica being replaced; to the destination. */
  from: string
  to: string
  /** oldSet is the old replica set O (the shard's voters before cutover, `from` included). */
  oldSet: readonly string[]
  /** alive are the nodes holding a live lease now. */
  alive: ReadonlySet<string>
  /**
   * routerW lists the `--w` every registered router published: a number, null (a majority
   * of the shard's voters) or undefined (an older router that does not say: assumed 1).
   */
  routerW: readonly (number | null | undefined)[]
  /**
   * replaced lists old voters that are up on another data dir than when their copy was last known (`since` says when):
   * they lost every write they acknowledged, so they are not counted as holders (named in a wait's reason). Absent: none.
   */
  replaced?: {nodes: readonly string[]; since: string}
}

/** CopySourceDecision: copy from `sources` (merged by LWW on the destination), or wait for the reason given. */
export type CopySourceDecision = {kind: 'copy'; sources: string[]} | {kind: 'wait'; reason: string}

/**
 * chooseCopySources (pure) picks the replicas a move's copy reads from so that it cannot
 * miss an acknowledged write. The source `from` alone is always safe (every write
 * acknowledged before the barrier is on it or on every other old replica). When it is
 * down, a set S of the other old replicas is safe only if no write quorum fits outside
 * it: |O \ S| < w. With w = 1 that is never true without `from` (a write acknowledged by
 * the source alone is nowhere else), so the move waits for the source, with a reason
 * that says so; with w >= 2 the live other replicas are used when enough of them are up.
 */
export function chooseCopySources(input: CopySourceInput): CopySourceDecision {
  const {shard, from, to, oldSet, alive} = input
  if (alive.has(from)) return {kind: 'copy', sources: [from]}
  const w = effectiveWriteQuorum(oldSet.length, input.routerW)
  if (w <= 1) {
    return {kind: 'wait', reason: `source ${from} of shard ${shard} is down and writes may be acknowledged with w = 1: only ${from} is sure to hold every acknowledged write; waiting for it`}
  }
  const others = oldSet.filter((n) => n !== from && n !== to)
  const replaced = new Set(input.replaced?.nodes ?? [])
  const live = others.filter((n) => alive.has(n) && !replaced.has(n))
  const outside = oldSet.length - live.length
  if (live.length === 0 || outside >= w) {
    const down = oldSet.filter((n) => !alive.has(n))
    const lost = others.filter((n) => alive.has(n) && replaced.has(n))
    const lostText = lost.length === 0 ? '' : `, and ${lost.join(', ')} ${lost.length === 1 ? 'serves' : 'serve'} another data dir than ${input.replaced!.since} (replaced since: what ${lost.length === 1 ? 'it' : 'they'} acknowledged is gone, not counted)`
    return {kind: 'wait', reason: `source ${from} of shard ${shard} is down${down.length > 1 ? ` and ${down.join(', ')} are down` : ''}${lostText}: with w = ${w}, copying from ${live.length ? live.join(', ') : 'no replica'} could miss an acknowledged write; waiting for ${lost.length > 0 && down.length === 1 ? from : 'them'}`}
  }
  return {kind: 'copy', sources: live}
}
