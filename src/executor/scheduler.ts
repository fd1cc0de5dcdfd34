import {isTerminal, type Move} from '../model/move.js'
import {willCopy} from './copyAdmission.js'

/** DEFAULT_INCOMING_PER_NODE is how many moves may copy into one node at once when not set (like Elasticsearch's incoming recoveries). */
export const DEFAULT_INCOMING_PER_NODE = 2

/** ConcurrencyLimits bound how many moves run at once: overall, out of one node, and into one node. */
export interface ConcurrencyLimits {
  maxConcurrent: number
  /** perNode bounds the moves one node is the source of at once. */
  perNode: number
  /** incomingPerNode bounds the moves one node is the destination of at once (default {@link DEFAULT_INCOMING_PER_NODE}). */
  incomingPerNode?: number
  /**
   * oneSidePerNode: a node is never the source of one running move and the target of another
   * at once (moves sharing only a source, or only a target, still run together). The redis
   * engine needs it: a master that takes a slot as one move's target raises its config epoch,
   * and if it is at that moment the source of another move whose target has not heard of the
   * raise yet, the source wins that slot back by gossip and Redis drops the keys the target
   * just received (docs/redis.md, "Config epochs").
   */
  oneSidePerNode?: boolean
  /**
   * copySlots bounds how many more moves that still have to copy (willCopy) may start now: the
   * cluster throttle's copies at the 16KiB/s floor that no started move holds yet
   * (CopyAdmission.freeSlots). Unset: no bound. A move resumed past its copy needs none.
   */
  copySlots?: number
}

/**
 * pickStartable chooses which not-yet-started moves may start now, in plan order, given
 * those running: at most `maxConcurrent` overall, at most `perNode` copying out of any
 * node, at most `incomingPerNode` copying into any node (so filling a new node is not
 * serial), never two moves of the same shard at once (a later action on a shard waits
 * for the earlier one to finish), and with `oneSidePerNode` never a node that is the source of one
 * move and the target of another, and with `copySlots` at most that many moves that still have
 * to copy (a later move past its copy may still start). Pure and deterministic.
 */
export function pickStartable(moves: readonly Move[], running: ReadonlySet<string>, limits: ConcurrencyLimits): Move[] {
  const incomingLimit = limits.incomingPerNode ?? DEFAULT_INCOMING_PER_NODE
  const outgoing = new Map<string, number>()
  const incoming = new Map<string, number>()
  const busyShards = new Set<number>()
  const sources = new Set<string>()
  const targets = new Set<string>()
  let active = 0
  let copySlots = limits.copySlots ?? Infinity
  for (const m of moves) {
    if (!running.has(m.id)) continue
    active++
    sources.add(m.from)
    targets.add(m.to)
    outgoing.set(m.from, (outgoing.get(m.from) ?? 0) + 1)
    incoming.set(m.to, (incoming.get(m.to) ?? 0) + 1)
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
    if ((outgoing.get(m.from) ?? 0) >= limits.perNode || (incoming.get(m.to) ?? 0) >= incomingLimit) continue
    if (limits.oneSidePerNode && (targets.has(m.from) || sources.has(m.to))) continue
    if (willCopy(m.phase)) {
      if (copySlots <= 0) continue
      copySlots--
    }
    outgoing.set(m.from, (outgoing.get(m.from) ?? 0) + 1)
    incoming.set(m.to, (incoming.get(m.to) ?? 0) + 1)
    sources.add(m.from)
    targets.add(m.to)
    picked.push(m)
    active++
  }
  return picked
}
