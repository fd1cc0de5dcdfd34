import {isTerminal, type Move} from '../model/move.js'

/** ConcurrencyLimits bound how many moves run at once, overall and per node (as source or target). */
export interface ConcurrencyLimits {
  maxConcurrent: number
  perNode: number
}

/**
 * pickStartable chooses which not-yet-started moves may start now, in plan order, given
 * those running: at most `maxConcurrent` overall, at most `perNode` touching any node, and
 * never two moves of the same shard at once (a later action on a shard waits for the
 * earlier one to finish). Pure and deterministic.
 */
export function pickStartable(moves: readonly Move[], running: ReadonlySet<string>, limits: ConcurrencyLimits): Move[] {
  const perNode = new Map<string, number>()
  const busyShards = new Set<number>()
  let active = 0
  for (const m of moves) {
    if (!running.has(m.id)) continue
    active++
    perNode.set(m.from, (perNode.get(m.from) ?? 0) + 1)
    perNode.set(m.to, (perNode.get(m.to) ?? 0) + 1)
    busyShards.add(m.shard)
  }
  const picked: Move[] = []
  const ordered = [...moves].sort((a, b) => a.index - b.index)
  for (const m of ordered) {
    if (active >= limits.maxConcurrent) break
    if (running.has(m.id) || isTerminal(m.phase)) continue
    // An earlier unfinished action on the same shard goes first.
    if (busyShards.has(m.shard)) continue
    busyShards.add(m.shard)
    if ((perNode.get(m.from) ?? 0) >= limits.perNode || (perNode.get(m.to) ?? 0) >= limits.perNode) continue
    perNode.set(m.from, (perNode.get(m.from) ?? 0) + 1)
    perNode.set(m.to, (perNode.get(m.to) ?? 0) + 1)
    picked.push(m)
    active++
  }
  return picked
}
