import {type Move} from '../../src/model/move.js'
import {type Shard} from '../../src/model/shard.js'

/** shardOf builds a stable shard with voters on `nodes`. */
export function shardOf(id: number, nodes: string[], epoch = 5): Shard {
  return {id, range: {lo: id * 100, hi: id * 100 + 100}, epoch, replicas: nodes.map((node) => ({node, role: 'voter' as const}))}
}

/** moveOf builds a pending move record. */
export function moveOf(over: Partial<Move> & Pick<Move, 'shard' | 'from' | 'to'>): Move {
  return {
    id: `p-${over.index ?? 0}`,
    plan: 'p',
    index: 0,
    baseEpoch: 5,
    epoch: 5,
    phase: 'pending',
    progress: {bytes: 0, keys: 0, totalBytes: 0, rateBytesPerSec: 0, dataRateBytesPerSec: 0, cursor: null, stalled: false},
    cancelRequested: false,
    rollbackRequested: false,
    reason: null,
    attempts: 0,
    createdAt: 't',
    updatedAt: 't',
    cutoverAt: null,
    copyStartedAt: null,
    ...over,
  }
}
