import {type MoveObservation} from '../../src/executor/moveMachine.js'
import {type Move} from '../../src/model/move.js'
import {type Shard} from '../../src/model/shard.js'

/**
 * machineObservation is one move machine observation for a unit test of a single decision: `move` on `shard` (revision
 * `revision`), nodes a-d registered and alive, not paused, in the window, nothing done, no failure; `over` replaces any
 * of it (alive, claims, writeQuorums, done...).
 */
export function machineObservation(move: Move, shard: Shard, over: Partial<MoveObservation> = {}, revision = 50n): MoveObservation {
  return {
    move,
    shard: {value: shard, revision},
    registered: new Set(['a', 'b', 'c', 'd']),
    alive: new Set(['a', 'b', 'c', 'd']),
    control: {paused: false, inWindow: true},
    now: 0,
    done: new Set(),
    failures: 0,
    tries: 0,
    ...over,
  }
}
