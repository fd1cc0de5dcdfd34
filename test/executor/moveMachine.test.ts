import {describe, expect, it} from 'vitest'
import {abortMove, beginCutover, beginJoining, beginRelease, beginRollback, canAbort, checkMove, finishCleanup, finishRollback, promoteDestination, rollbackCutover} from '../../src/executor/moveMachine.js'
import {readReplicas, type Shard, writeReplicas} from '../../src/model/shard.js'
import {writeQuorum} from '../../src/router/quorum.js'
import {moveOf, shardOf} from './fixtures.js'

const exists = (id: string) => ['a', 'b', 'c', 'd'].includes(id)

/** learnedAndPromoted is the shard after the destination joined as a learner and was promoted (epoch +2). */
const learnedAndPromoted = (move: ReturnType<typeof moveOf>, shard: Shard): Shard => promoteDestination(move, beginJoining(move, shard).shard!).shard!

describe('move state machine', () => {
  const move = moveOf({shard: 1, from: 'a', to: 'd'})

  it('walks a move through joining (learning), the promotion, cutover, release and cleanup, raising the epoch at each change', () => {
    let shard = shardOf(1, ['a', 'b', 'c'])
    expect(checkMove(move, shard, exists)).toEqual({phase: 'checked'})

    const joining = beginJoining(move, shard)
    shard = joining.shard!
    expect(shard.epoch).toBe(6)
    expect(readReplicas(shard)).toEqual(['a', 'b', 'c'])
    expect(writeReplicas(shard)).toEqual(['a', 'b', 'c', 'd'])
    // The destination is written but neither awaited nor counted while it is filled.
    expect(writeQuorum(shard)).toMatchObject({targets: ['a', 'b', 'c'], extras: [], learners: ['d'], w: 2})

    const promoted = promoteDestination(move, shard)
    expect(promoted.phase).toBe('promoting')
    shard = promoted.shard!
    expect(shard.epoch).toBe(7)
    expect(readReplicas(shard)).toEqual(['a', 'b', 'c'])
    expect(writeQuorum(shard)).toMatchObject({targets: ['a', 'b', 'c', 'd'], extras: ['d'], learners: []})

    const cutover = beginCutover(move, shard)
    shard = cutover.shard!
    expect(shard.epoch).toBe(8)
    expect(readReplicas(shard)).toEqual(['b', 'c', 'd'])
    expect(writeReplicas(shard)).toEqual(['a', 'b', 'c', 'd'])

    shard = beginRelease(move, shard).shard!
    expect(shard.epoch).toBe(9)
    expect(writeReplicas(shard)).toEqual(['b', 'c', 'd'])

    const done = finishCleanup(move, shard)
    expect(done.phase).toBe('done')
    expect(done.shard!.epoch).toBe(10)
    expect(done.shard!.replicas.map((r) => r.node)).toEqual(['b', 'c', 'd'])
  })

  it('is idempotent on resume: a step already applied changes nothing', () => {
    let shard = beginJoining(move, shardOf(1, ['a', 'b', 'c'])).shard!
    expect(beginJoining(move, shard)).toEqual({phase: 'joining'})
    shard = promoteDestination(move, shard).shard!
    expect(promoteDestination(move, shard)).toEqual({phase: 'promoting'})
    expect(beginJoining(move, shard)).toEqual({phase: 'joining'})
    shard = beginCutover(move, shard).shard!
    expect(beginCutover(move, shard)).toEqual({phase: 'cutover'})
    shard = beginRelease(move, shard).shard!
    expect(beginRelease(move, shard)).toEqual({phase: 'release'})
    shard = finishCleanup(move, shard).shard!
    expect(finishCleanup(move, shard)).toEqual({phase: 'done'})
  })

  it('makes the destination drop whatever it holds in the range before it joins', () => {
    const t = beginJoining(move, shardOf(1, ['a', 'b', 'c']))
    expect(t.dropFirst).toBe('d')
    expect(beginJoining(move, t.shard!)).toEqual({phase: 'joining'})
  })

  it('skips stale moves with a reason naming what changed', () => {
    expect(checkMove(move, shardOf(1, ['a', 'b', 'c'], 6), exists).reason).toMatch(/epoch 6, plan expected 5/)
    expect(checkMove(move, undefined, exists).reason).toMatch(/no longer exists/)
    expect(checkMove(moveOf({shard: 1, from: 'a', to: 'zz'}), shardOf(1, ['a', 'b']), exists).reason).toMatch(/"zz" does not exist/)
    expect(checkMove(move, shardOf(1, ['b', 'c', 'd']), exists).reason).toMatch(/"a" is not a voter/)
    expect(checkMove(moveOf({shard: 1, from: 'a', to: 'b'}), shardOf(1, ['a', 'b']), exists).reason).toMatch(/already holds/)
  })

  it('aborts before cutover back to the old set at a new epoch, and refuses after', () => {
    const joining = beginJoining(move, shardOf(1, ['a', 'b', 'c'])).shard!
    const aborted = abortMove(move, joining, 'cancelled')
    // First the destination leaves the shard (writes go back to the old set at once) ...
    expect(aborted.phase).toBe('aborting')
    expect(aborted.dropFirst).toBeUndefined()
    expect(aborted.shard!.replicas.map((r) => r.node)).toEqual(['a', 'b', 'c'])
    expect(aborted.shard!.epoch).toBe(joining.epoch + 1)
    // ... then the move ends only once the destination's copy is dropped.
    const joined = {...move, epoch: aborted.shard!.epoch}
    expect(abortMove(joined, aborted.shard, 'again')).toEqual({phase: 'aborted', reason: 'again', dropFirst: 'd'})
    // A move cancelled before it joined sent the destination nothing: it ends at once.
    expect(abortMove(move, shardOf(1, ['a', 'b', 'c']), 'cancelled')).toEqual({phase: 'aborted', reason: 'cancelled'})
    // A promoted (joining) destination is removed the same way.
    const promoted = promoteDestination(move, joining).shard!
    expect(abortMove(move, promoted, 'cancelled').shard!.replicas.map((r) => r.node)).toEqual(['a', 'b', 'c'])
    const cut = beginCutover(move, promoted).shard!
    expect(() => abortMove(move, cut, 'late')).toThrow(/already voter/)
    expect(canAbort('copying')).toBe(true)
    expect(canAbort('cutover')).toBe(false)
  })

  it('aborts a cutover when the shard changed under the move', () => {
    expect(beginCutover(move, shardOf(1, ['a', 'b', 'c'])).phase).toBe('aborting')
  })

  it('never cuts over to a destination that is still learning: it must be promoted (and the barrier run) first', () => {
    const learning = beginJoining(move, shardOf(1, ['a', 'b', 'c'])).shard!
    expect(beginCutover(move, learning).phase).toBe('aborting')
    expect(promoteDestination(move, shardOf(1, ['a', 'b', 'c'])).phase).toBe('aborting')
  })

  it('rolls back after release: the source re-joins writes, then reads flip back, then the destination leaves', () => {
    let shard = learnedAndPromoted(move, shardOf(1, ['a', 'b', 'c']))
    shard = beginCutover(move, shard).shard!
    shard = beginRelease(move, shard).shard!
    const rejoin = beginRollback(move, shard)
    expect(rejoin.phase).toBe('rb-joining')
    shard = rejoin.shard!
    expect(readReplicas(shard)).toEqual(['b', 'c', 'd'])
    expect(writeReplicas(shard).sort()).toEqual(['a', 'b', 'c', 'd'])
    const flip = rollbackCutover(move, shard)
    shard = flip.shard!
    expect(flip.phase).toBe('rb-cutover')
    expect(readReplicas(shard).sort()).toEqual(['a', 'b', 'c'])
    expect(rollbackCutover(move, shard)).toEqual({phase: 'rb-cutover'})
    const leave = finishRollback(move, shard)
    expect(leave.phase).toBe('rb-cutover')
    expect(leave.dropFirst).toBeUndefined()
    expect(leave.shard!.replicas).toEqual(shardOf(1, ['a', 'b', 'c']).replicas)
    expect(leave.shard!.epoch).toBe(12)
    expect(finishRollback(move, leave.shard!)).toEqual({phase: 'rolledback', reason: 'rolled back by operator', dropFirst: 'd'})
  })

  it('rolls back straight from cutover (the source is still written) and refuses once the source is gone', () => {
    let shard = learnedAndPromoted(move, shardOf(1, ['a', 'b', 'c']))
    shard = beginCutover(move, shard).shard!
    expect(beginRollback(move, shard).phase).toBe('rb-cutover')
    shard = finishCleanup(move, beginRelease(move, shard).shard!).shard!
    expect(() => beginRollback(move, shard)).toThrow(/no longer a replica/)
  })
})
