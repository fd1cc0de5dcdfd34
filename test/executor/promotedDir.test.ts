import {describe, expect, it} from 'vitest'
import {decideMove, type MoveObservation} from '../../src/executor/moveMachine.js'
import {copyReplaced} from '../../src/executor/keptCopyVerdict.js'
import {moveOf, shardOf} from './fixtures.js'
import {machineObservation} from './machineObservation.js'

/**
 * The promotion records the destination's claim (`promotedDir`), fenced on it: from then on its answer counts in the
 * joint quorum, and an abort that keeps its copy outside the map compares its dir at the repair with this one
 * (moveMachine.ts dropKeptCopy; session 41: before, nothing was recorded before cutover, so a destination back on an
 * empty dir was repaired from as if its copy were whole, and the move ended `aborted` without a warning).
 */
describe('the promotion of a move\'s destination', () => {
  const move = moveOf({shard: 1, from: 'a', to: 'd', phase: 'promoting', epoch: 6})
  const base = shardOf(1, ['a', 'b', 'c'], 6)
  const shard = {...base, replicas: [...base.replicas, {node: 'd', role: 'learning' as const}]}
  const observation = (claims?: MoveObservation['claims']): MoveObservation => machineObservation(move, shard, claims ? {claims} : {}, 42n)

  it('records the claim the destination serves under, fenced on it', () => {
    const d = decideMove(observation(new Map([['d', {token: 'dir-d/i1', modRevision: 7n}]])))
    expect(d).toMatchObject({kind: 'commit', transition: {phase: 'promoting'}, patch: {promotedDir: 'dir-d/i1'}, claimFences: [{node: 'd', modRevision: 7n}]})
  })

  it('records nothing for a destination without a claim (nothing to hold it to)', () => {
    const d = decideMove(observation())
    expect(d.kind).toBe('commit')
    expect(d).not.toHaveProperty('patch')
  })
})

/**
 * A destination restarted on a replaced data dir during `verifying` is verified again under its new claim (the verify is
 * keyed on it); then its new dir holds what the joint quorum gave the old one. Until session 42 `promotedDir` kept the old
 * dir, and an abort before the cutover (a cancel) that repaired from the destination's kept copy judged that copy
 * replaced: a false `kept-copy:` loss warning. The claim verified is now recorded as `promotedDir` before the cutover.
 */
describe('a destination restarted on another data dir during verifying', () => {
  const base = shardOf(1, ['a', 'b', 'c'], 7)
  const shard = {...base, replicas: [...base.replicas, {node: 'd', role: 'joining' as const}]}
  const claims = new Map([['a', {token: 'dir-a/i1', modRevision: 3n}], ['d', {token: 'dir-d2/i2', modRevision: 9n}]])
  const observation = (move: ReturnType<typeof moveOf>, done: string[]): MoveObservation => machineObservation(move, shard, {done: new Set(done), claims})
  const verified = ['barrier@50', 'verify@d=dir-d2/i2,a=dir-a/i1']

  it('records the new claim as promotedDir, fenced on it, once verified under it, before the cutover', () => {
    const move = moveOf({shard: 1, from: 'a', to: 'd', phase: 'verifying', epoch: 7, promotedDir: 'dir-d/i1'})
    expect(decideMove(observation(move, verified))).toMatchObject({kind: 'commit', transition: {phase: 'verifying'}, patch: {promotedDir: 'dir-d2/i2'}, claimFences: [{node: 'd', modRevision: 9n}]})
  })

  it('does not record it before the verification under it completed (an abort then rightly finds the copy replaced)', () => {
    const move = moveOf({shard: 1, from: 'a', to: 'd', phase: 'verifying', epoch: 7, promotedDir: 'dir-d/i1'})
    expect(decideMove(observation(move, ['barrier@50']))).toMatchObject({kind: 'effect', effect: {type: 'verify'}})
  })

  it('cuts over at once when the promoted dir is the one verified (a plain restart keeps the dir)', () => {
    const move = moveOf({shard: 1, from: 'a', to: 'd', phase: 'verifying', epoch: 7, promotedDir: 'dir-d2/i1'})
    expect(decideMove(observation(move, verified))).toMatchObject({kind: 'commit', transition: {phase: 'cutover'}})
  })

  it('an abort after that record judges the copy by the new dir: no kept-copy loss warning', () => {
    const move = moveOf({shard: 1, from: 'a', to: 'd', phase: 'aborting', epoch: 7, promotedDir: 'dir-d2/i2'})
    expect(copyReplaced(move, claims)).toBe(false)
  })
})
