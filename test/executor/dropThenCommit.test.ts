import {describe, expect, it} from 'vitest'
import {dropThenCommit, type MoveObservation} from '../../src/executor/moveMachine.js'
import {moveOf, shardOf} from './fixtures.js'

/**
 * dropThenCommit commits a transition after its node dropped its copy of the range. A node no longer registered
 * (`node remove`) has nothing to drop, and the transition commits at once: until session 42 everything the caller asked
 * the commit to carry besides (the move's patch: a loss warning, the kept-copy record marked dropped; the claims it read,
 * fencing it; its note) was thrown away on that path.
 */
describe('dropThenCommit on a node no longer registered', () => {
  const move = moveOf({shard: 1, from: 'a', to: 'd', phase: 'rb-cutover', epoch: 9})
  const shard = {value: shardOf(1, ['a', 'b', 'c'], 9), revision: 42n}
  const observation = (registered: string[]): MoveObservation => ({
    move,
    shard,
    registered: new Set(registered),
    alive: new Set(['a', 'b', 'c']),
    control: {paused: false, inWindow: true},
    now: 0,
    done: new Set(),
    failures: 0,
    tries: 0,
  })
  const warning = {key: 'kept-copy:d:removed:dir-d/i1', at: new Date(0).toISOString(), text: 'lost', mayHaveLostData: true}
  const extra = {patch: {warnings: [warning]}, claimFences: [{node: 'b', modRevision: 7n}], note: 'move m: the repair ends'}
  const t = {phase: 'rolledback' as const, dropFirst: 'd'}

  it('Given the node removed, Then the commit carries the patch, the claim fences and the note, which says nothing was dropped', () => {
    const d = dropThenCommit(observation(['a', 'b', 'c']), t, shard, extra)
    expect(d).toMatchObject({kind: 'commit', transition: t, patch: extra.patch, claimFences: extra.claimFences})
    expect(d.kind === 'commit' && d.note).toBe('move m: the repair ends; node d is no longer registered; nothing to drop')
  })

  it('Given the node removed and no note asked for, Then the note names the move and says nothing was dropped', () => {
    const d = dropThenCommit(observation(['a', 'b', 'c']), t, shard, {patch: extra.patch})
    expect(d).toMatchObject({kind: 'commit', patch: extra.patch, note: `move ${move.id}: node d is no longer registered; nothing to drop`})
  })

  it('Given the node registered and up, Then it is asked to drop first', () => {
    const o = {...observation(['a', 'b', 'c', 'd']), alive: new Set(['a', 'b', 'c', 'd'])}
    expect(dropThenCommit(o, t, shard, extra)).toMatchObject({kind: 'effect', effect: {type: 'drop', node: 'd'}})
  })
})
