import {describe, expect, it} from 'vitest'
import {decideMove, type MoveObservation} from '../../src/executor/moveMachine.js'
import {type Move} from '../../src/model/move.js'
import {moveOf, shardOf} from './fixtures.js'
import {machineObservation} from './machineObservation.js'

/**
 * A rollback's last step drops the destination's copy once it left the shard (moveMachine.ts dropKeptCopy). At rf 3 with
 * w = 2 a write acknowledged while the move was cut over (joint quorum: a and b of the old set, d and b of the new) is on
 * a, b and d alone. A staying voter (b) restarted since the cutover on a replaced data dir (--accept-empty-data) lost it:
 * then a and d hold it. Until session 42's hunt the drop counted b as a holder (destinationCopyKeep looked at leases only,
 * not at `stayingDirs`), so d's copy was dropped and the write lived on a alone: with a down, or dying for good after the
 * drop, it was lost and the move ended `rolledback` without a word. Now d's copy is repaired into the voters up first.
 */
const claim = (token: string, modRevision = 1n) => ({token, modRevision})
const CUT_OVER = {b: 'dir-b/i1', c: 'dir-c/i1'}

function rolledBackShard() {
  // The destination d already left the shard (finishRollback's first step): the old set a, b, c, the source a a voter again.
  return shardOf(1, ['a', 'b', 'c'], 11)
}

function rbCutover(over: Partial<Move> = {}): Move {
  return moveOf({shard: 1, from: 'a', to: 'd', phase: 'rb-cutover', epoch: 11, cutoverAt: 't', rollbackRequested: true, verifiedDirs: {a: 'dir-a/i1', d: 'dir-d/i1'}, stayingDirs: CUT_OVER, ...over})
}

function observe(move: Move, over: Partial<MoveObservation>): MoveObservation {
  return machineObservation(move, rolledBackShard(), {now: 1_000, writeQuorums: [2], ...over})
}

const replacedB = new Map([['a', claim('dir-a/i1')], ['d', claim('dir-d/i1')], ['b', claim('dir-b2/i2')], ['c', claim('dir-c/i1')]])
const plainB = new Map([['a', claim('dir-a/i1')], ['d', claim('dir-d/i1')], ['b', claim('dir-b/i2')], ['c', claim('dir-c/i1')]])

describe('a rollback\'s drop of the destination\'s copy judges the staying voters by the data dir they served at cutover', () => {
  it('the source down and a staying voter on a replaced dir: the copy is repaired into the voters up before it is dropped', () => {
    const d = decideMove(observe(rbCutover(), {alive: new Set(['b', 'c', 'd']), claims: replacedB}))
    expect(d).toMatchObject({kind: 'effect', effect: {type: 'repair-from-copy', voters: ['b', 'c']}})
  })

  it('the source up on its dir and a staying voter on a replaced dir: repaired first too (the source may die for good before the drop)', () => {
    const d = decideMove(observe(rbCutover(), {claims: replacedB}))
    expect(d).toMatchObject({kind: 'effect', effect: {type: 'repair-from-copy', voters: ['a', 'b', 'c']}})
  })

  it('a plain restart of a staying voter (same dir) keeps it a holder: the copy is dropped at once', () => {
    expect(decideMove(observe(rbCutover(), {alive: new Set(['b', 'c', 'd']), claims: plainB}))).toMatchObject({kind: 'effect', effect: {type: 'drop', node: 'd'}})
    expect(decideMove(observe(rbCutover(), {claims: plainB}))).toMatchObject({kind: 'effect', effect: {type: 'drop', node: 'd'}})
  })

  it('a move cut over before stayingDirs was recorded is not judged (the drop goes on as before)', () => {
    const d = decideMove(observe(rbCutover({stayingDirs: undefined}), {alive: new Set(['b', 'c', 'd']), claims: replacedB}))
    expect(d).toMatchObject({kind: 'effect', effect: {type: 'drop', node: 'd'}})
  })

  it('the destination removed (node remove --accept-data-loss) with a staying voter on a replaced dir: the move ends with a kept-copy loss warning', () => {
    const d = decideMove(observe(rbCutover(), {alive: new Set(['b', 'c']), registered: new Set(['a', 'b', 'c']), claims: replacedB}))
    expect(d).toMatchObject({kind: 'commit', transition: {phase: 'rolledback'}})
    const warnings = d.kind === 'commit' ? (d.patch?.warnings ?? []) : []
    expect(warnings).toEqual([expect.objectContaining({key: expect.stringContaining('kept-copy:d:removed'), mayHaveLostData: true})])
  })
})
