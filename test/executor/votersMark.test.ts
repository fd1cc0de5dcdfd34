import {describe, expect, it} from 'vitest'
import {decideMove, type MoveObservation} from '../../src/executor/moveMachine.js'
import {type ObservedClaim} from '../../src/executor/verifiedDirs.js'
import {votersMarkCovers, votersMarkOutlived, votersMarkWithdrawal} from '../../src/executor/votersMark.js'
import {type Shard} from '../../src/model/shard.js'
import {moveOf, shardOf} from './fixtures.js'
import {machineObservation} from './machineObservation.js'

/**
 * The `moves abandon-voters` mark judged its voters gone for good. A named voter that registered again on its data dir
 * and went down again before the executor looked was not seen (until session 42): the mark stood, and the refill went on
 * without a copy that is on disk, fenced only on its lease being absent (it was, again). Its claim is never leased: it
 * names the same data dir under a new process instance, which refutes the mark.
 */
const claim = (token: string, modRevision = 1n): ObservedClaim => ({token, modRevision})
const mark = {abandonVotersRequested: 'T1', abandonVotersDirs: {b: 'dir-b/i1', c: 'dir-c/i1'} as Record<string, string | null>}

describe('votersMarkOutlived', () => {
  it('Given b back on its data dir (a new instance) and down again, Then the mark is outlived by b', () => {
    expect(votersMarkOutlived(mark, new Set(), new Map([['b', claim('dir-b/i2')], ['c', claim('dir-c/i1')]]))).toEqual(['b'])
  })

  it('Given b back on another data dir and down again, Then the mark stands (its copy is lost)', () => {
    expect(votersMarkOutlived(mark, new Set(), new Map([['b', claim('dir-b9/i2')], ['c', claim('dir-c/i1')]]))).toBeUndefined()
  })

  it('Given both still down under the claims the mark recorded, Then it stands', () => {
    expect(votersMarkOutlived(mark, new Set(), new Map([['b', claim('dir-b/i1')], ['c', claim('dir-c/i1')]]))).toBeUndefined()
  })

  it('Given every named voter up on its data dir, Then it is outlived by them all; one up and one down: it stands for the other', () => {
    const claims = new Map([['b', claim('dir-b/i2')], ['c', claim('dir-c/i1')]])
    expect(votersMarkOutlived(mark, new Set(['b', 'c']), claims)).toEqual(['b', 'c'])
    expect(votersMarkOutlived(mark, new Set(['b']), new Map([['b', claim('dir-b/i2')], ['c', claim('dir-c/i1')]]))).toBeUndefined()
  })

  it('Given a voter with no readable claim at the mark, or none read now, Then it is not judged', () => {
    expect(votersMarkOutlived({...mark, abandonVotersDirs: {b: null}}, new Set(), new Map([['b', claim('dir-b/i2')]]))).toBeUndefined()
    expect(votersMarkOutlived(mark, new Set(), undefined)).toBeUndefined()
  })

  it('covers only the voters the mark names (own keys: "constructor" is a valid node id)', () => {
    expect(votersMarkCovers(mark, ['b'])).toBe(true)
    expect(votersMarkCovers(mark, ['constructor'])).toBe(false)
    expect(votersMarkCovers({abandonVotersRequested: 'T1'}, ['x'])).toBe(true)
    expect(votersMarkCovers({}, ['b'])).toBe(false)
  })

  it('the withdrawal clears the mark and says the voter came back and is down again', () => {
    const w = votersMarkWithdrawal({id: 'p-0', ...mark}, ['b'], new Set())
    expect(w.patch).toEqual({abandonVotersRequested: undefined, abandonVotersDirs: undefined})
    expect(w.note).toContain('b marked abandoned came back on their data dirs since the mark and are down again (b)')
  })
})

describe('the move machine with a voters\' mark whose voter came back and is down again', () => {
  // rf 3, w = 1: a refill after the source's drop, the destination d back on another dir, b and c down, both named.
  const s = shardOf(1, ['b', 'c', 'd'], 9)
  const shard: Shard = {...s, replicas: [...s.replicas, {node: 'a', role: 'leaving' as const}]}
  const move = moveOf({shard: 1, from: 'a', to: 'd', phase: 'cleanup', epoch: 9, cutoverAt: 't', sourceDropSentAt: 't', verifiedDirs: {a: 'dir-a/i1', d: 'dir-d/i1'}, ...mark})
  const observation = (claims: Map<string, ObservedClaim>): MoveObservation => machineObservation(move, shard, {alive: new Set(['a', 'd']), writeQuorums: [1], claims})

  it('withdraws the mark instead of refilling without b', () => {
    const d = decideMove(observation(new Map([['a', claim('dir-a/i1')], ['d', claim('dir-d2/i2')], ['b', claim('dir-b/i2')], ['c', claim('dir-c/i1')]])))
    expect(d).toMatchObject({kind: 'commit', transition: {phase: 'cleanup'}, patch: {abandonVotersRequested: undefined, abandonVotersDirs: undefined}})
  })

  it('with the mark standing, the refill without them is fenced on their claims too (one restarting before the commit fails it)', () => {
    const claims = new Map([['a', claim('dir-a/i1', 3n)], ['d', claim('dir-d2/i2', 4n)], ['b', claim('dir-b/i1', 5n)], ['c', claim('dir-c/i1', 6n)]])
    const key = 'refill-after-drop@d=dir-d2/i2,a=dir-a/i1'
    const d = decideMove({...observation(claims), done: new Set([key])})
    expect(d.kind).toBe('commit')
    expect(d.kind === 'commit' ? d.claimFences : []).toEqual(expect.arrayContaining([{node: 'b', modRevision: 5n}, {node: 'c', modRevision: 6n}]))
  })
})
