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

/**
 * A staying voter replaced (--accept-empty-data) after the promotion but before the cutover's look lost what it
 * acknowledged in the joint quorum (at rf 3, w = 2: a write acknowledged by a and b of the old set, d and b of the new is
 * on a, b and d alone; with b replaced, on a and d). Until session 42's hunt the cutover recorded b's replaced dir as the
 * one it served (stayingDirs), so b counted as a holder: with d down in cleanup, a's copy was dropped and the write lived
 * on d alone (lost with it, the move `done` without a word). The promotion now records the staying voters' claims, and the
 * cutover keeps the ones recorded there.
 */
describe('the staying voters\' dirs are recorded at the promotion, and the cutover keeps them', () => {
  const base = shardOf(1, ['a', 'b', 'c'], 6)
  const atPromotion = new Map([['a', claim('dir-a/i1')], ['d', claim('dir-d/i1', 7n)], ['b', claim('dir-b/i1')], ['c', claim('dir-c/i1')]])
  const bReplaced = new Map([...atPromotion, ['b', claim('dir-b2/i2')]])

  it('a staying voter replaced between the promotion and the cutover is not counted in cleanup: the source\'s copy is kept while the destination is down', () => {
    // promoting: d learning → joining, recording its claim and the staying voters'.
    let move = moveOf({shard: 1, from: 'a', to: 'd', phase: 'promoting', epoch: 6})
    const promoting = decideMove(machineObservation(move, {...base, replicas: [...base.replicas, {node: 'd', role: 'learning' as const}]}, {claims: atPromotion}))
    expect(promoting).toMatchObject({kind: 'commit', transition: {phase: 'promoting'}, patch: {promotedDir: 'dir-d/i1', stayingDirs: CUT_OVER}})
    move = {...move, ...(promoting.kind === 'commit' ? promoting.patch : {}), phase: 'verifying', epoch: 7}
    // verifying, b replaced since: the cutover keeps b's dir at the promotion.
    const joint = {...base, epoch: 7, replicas: [...base.replicas, {node: 'd', role: 'joining' as const}]}
    const cut = decideMove(machineObservation(move, joint, {claims: bReplaced, done: new Set(['barrier@50', 'verify@d=dir-d/i1,a=dir-a/i1'])}))
    expect(cut).toMatchObject({kind: 'commit', transition: {phase: 'cutover'}, patch: {stayingDirs: CUT_OVER}})
    move = {...move, ...(cut.kind === 'commit' ? cut.patch : {}), phase: 'cleanup', epoch: 9, cutoverAt: 't', sourceDropSentAt: null}
    // cleanup with d down (w = 2): b on its replaced dir is no holder, so a's copy is kept.
    const s = shardOf(1, ['b', 'c', 'd'], 9)
    const cleanup = decideMove(machineObservation(move, {...s, replicas: [...s.replicas, {node: 'a', role: 'leaving' as const}]}, {now: 1_000, writeQuorums: [2], alive: new Set(['a', 'b', 'c']), claims: bReplaced}))
    expect(cleanup).toMatchObject({kind: 'wait', retried: {message: expect.stringContaining("a's copy is kept, not dropped")}})
  })

  it('an abort after the promotion judges them too: a staying voter replaced since is repaired from the destination\'s kept copy before it is dropped', () => {
    const move = moveOf({shard: 1, from: 'a', to: 'd', phase: 'aborting', epoch: 8, promotedDir: 'dir-d/i1', stayingDirs: CUT_OVER})
    const d = decideMove(machineObservation(move, shardOf(1, ['a', 'b', 'c'], 8), {now: 1_000, writeQuorums: [2], alive: new Set(['b', 'c', 'd']), claims: bReplaced}))
    expect(d).toMatchObject({kind: 'effect', effect: {type: 'repair-from-copy', voters: ['b', 'c']}})
  })
})
