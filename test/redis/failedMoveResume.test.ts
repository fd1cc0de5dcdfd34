import {describe, expect, it} from 'vitest'
import {type Move} from '../../src/model/move.js'
import {type Shard} from '../../src/model/shard.js'
import {resumePhaseOfFailed} from '../../src/redis/failedMoveResume.js'
import {moveOf} from '../executor/fixtures.js'

/** resumePhaseOfFailed: which failed redis moves `apply --resume` takes up again, and in which phase. */

const shard: Shard = {id: 3, range: {lo: '0', hi: '100'}, epoch: 5, replicas: [{node: 'a', role: 'voter'}]} as unknown as Shard
const failed = (cursor: object | null, over: Partial<Move> = {}): Move => moveOf({shard: 3, from: 'a', to: 'b', phase: 'failed', baseEpoch: 5, epoch: 5, ...over, progress: {bytes: 0, keys: 0, totalBytes: 0, rateBytesPerSec: 0, dataRateBytesPerSec: 0, cursor: cursor && JSON.stringify(cursor), stalled: false}})

describe('resumePhaseOfFailed', () => {
  it('resumes from the cursor: forward in copying, a cancel returning slots in aborting, not started in pending', () => {
    expect(resumePhaseOfFailed(failed({dir: 'fwd', next: 10, open: true}), shard, new Set())).toBe('copying')
    expect(resumePhaseOfFailed(failed({dir: 'back', next: 9, open: true}), shard, new Set())).toBe('aborting')
    expect(resumePhaseOfFailed(failed(null), shard, new Set())).toBe('pending')
  })

  it('leaves it failed when the records moved on or the move is not failed', () => {
    const f = failed({dir: 'fwd', next: 10, open: true})
    expect(resumePhaseOfFailed(f, undefined, new Set())).toBeUndefined()
    expect(resumePhaseOfFailed(f, {...shard, epoch: 9}, new Set())).toBeUndefined()
    expect(resumePhaseOfFailed(f, {...shard, replicas: [{node: 'b', role: 'voter'}]} as Shard, new Set())).toBeUndefined()
    expect(resumePhaseOfFailed(f, shard, new Set([3]))).toBeUndefined()
    expect(resumePhaseOfFailed({...f, phase: 'aborted'}, shard, new Set())).toBeUndefined()
  })
})
