import {describe, expect, it} from 'vitest'
import {decideMove, type MoveObservation} from '../../src/executor/moveMachine.js'
import {moveOf, shardOf} from './fixtures.js'

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
  const observation = (claims?: MoveObservation['claims']): MoveObservation => ({
    move,
    shard: {value: shard, revision: 42n},
    registered: new Set(['a', 'b', 'c', 'd']),
    alive: new Set(['a', 'b', 'c', 'd']),
    control: {paused: false, inWindow: true},
    now: 0,
    done: new Set(),
    failures: 0,
    tries: 0,
    ...(claims ? {claims} : {}),
  })

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
