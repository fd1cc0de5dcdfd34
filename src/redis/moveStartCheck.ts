import {checkMove} from '../executor/moveMachine.js'
import {type Move} from '../model/move.js'
import {type NodeState} from '../model/node.js'
import {type Shard} from '../model/shard.js'

/**
 * staleAtStart (pure) says why a redis move that has opened no slot yet must not start, or
 * undefined when it may: the shard gone, changed since the plan or no longer on the move's
 * source (worded for a slot owner), then the kv engine's own start checks (checkMove: the
 * destination still recorded, neither cordoned nor draining). apply's preflight checks these
 * once, when apply starts; a move whose turn comes later must check them itself, or a master
 * cordoned or drained meanwhile still receives slots (the redis runner checked only the shard).
 */
export function staleAtStart(move: Move, shard: Shard | undefined, registered: ReadonlySet<string>, states: ReadonlyMap<string, NodeState>): string | undefined {
  if (!shard) return `shard ${move.shard} no longer exists`
  if (shard.epoch !== move.baseEpoch) return `shard ${shard.id} changed since the plan (epoch ${shard.epoch}, plan expected ${move.baseEpoch})`
  if (shard.replicas[0]?.node !== move.from) return `shard ${shard.id} is on ${shard.replicas[0]?.node}, not ${move.from}`
  const t = checkMove(move, shard, (id) => registered.has(id), (id) => states.get(id))
  return t.phase === 'checked' ? undefined : (t.reason ?? `move ${move.id} is no longer valid`)
}
