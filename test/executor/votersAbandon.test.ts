import {describe, expect, it} from 'vitest'
import {judgeVotersAbandon} from '../../src/executor/votersAbandon.js'
import {decideMove, type MoveObservation} from '../../src/executor/moveMachine.js'
import {type ObservedClaim} from '../../src/executor/verifiedDirs.js'
import {type Move} from '../../src/model/move.js'
import {type Shard} from '../../src/model/shard.js'
import {moveOf} from './fixtures.js'

/** judgeVotersAbandon where the source is abandoned (`moves abandon-source`): the refill without it waits for voters down in any phase after cutover (session 41). */
describe('judgeVotersAbandon with the source abandoned', () => {
  const shard: Shard = {id: 0, range: {lo: '0', hi: '100'}, epoch: 9, replicas: [{node: 'a', role: 'outgoing'}, {node: 'b', role: 'voter'}, {node: 'c', role: 'voter'}, {node: 'd', role: 'voter'}]} as unknown as Shard
  const move = (phase: Move['phase'], over: Partial<Move> = {}): Move => moveOf({shard: 0, from: 'a', to: 'd', phase, verifiedDirs: {d: 'dir-old/i1', a: 'dir-a/i1'}, abandonSourceRequested: 't0', sourceDropSentAt: null, ...over})
  const facts = {shard, alive: new Set(['c']), destinationClaim: 'dir-old/i2', acceptDataLoss: true}

  it.each(['cutover', 'release', 'draining', 'cleanup'] as const)('Given %s, the source down, the destination on a new process, Then the down voter is marked (the drop and the same dir do not matter without the source)', (phase) => {
    expect(judgeVotersAbandon(move(phase), facts)).toEqual({kind: 'mark', down: ['b']})
  })

  it('Given the abandoned source up again, Then only cleanup after the drop is judged as before: release is refused', () => {
    const v = judgeVotersAbandon(move('release'), {...facts, sourceAlive: true})
    expect(v.kind).toBe('refuse')
    expect(v.kind === 'refuse' && v.error.code).toBe('PRECONDITION')
  })

  it('Given a move not cut over, or rolling back, Then refused, nothing to abandon', () => {
    for (const phase of ['verifying', 'rb-joining'] as const) expect(judgeVotersAbandon(move(phase), facts).kind).toBe('refuse')
  })
})

/**
 * The mark's named voters (`abandonVotersDirs`) are a record parsed from JSON: a voter down that it does not name must not
 * pass for named because its id is an Object.prototype property name ("constructor", "toString": valid node ids).
 */
describe('abandon-voters mark: only the voters it names are covered (huntwaits)', () => {
  const claim = (dir: string, rev: bigint): ObservedClaim => ({token: `${dir}/i-${dir}`, modRevision: rev})
  const shard: Shard = {id: 1, range: {lo: '0', hi: '100'}, epoch: 9, replicas: [{node: 'a', role: 'outgoing'}, {node: 'b', role: 'voter'}, {node: 'constructor', role: 'voter'}, {node: 'd', role: 'voter'}]} as unknown as Shard
  it('Given a mark naming b (back on another dir) and "constructor" down since, unnamed, Then the refill waits for it: no refill without it', () => {
    const o: MoveObservation = {
      move: moveOf({shard: 1, from: 'a', to: 'd', phase: 'cleanup', epoch: 9, cutoverAt: '2026-12-05T00:00:00.000Z', verifiedDirs: {d: 'D/i-D', a: 'A/i-A'}, abandonSourceRequested: 't0', abandonVotersRequested: 't1', abandonVotersDirs: {b: 'B/i-B'}}),
      shard: {value: shard, revision: 100n},
      registered: new Set(['a', 'b', 'constructor', 'd']),
      alive: new Set(['b', 'd']),
      control: {paused: false, inWindow: true},
      now: 1_000_000,
      done: new Set(),
      failures: 0,
      tries: 0,
      claims: new Map([['a', claim('A', 10n)], ['d', claim('D2', 20n)], ['b', claim('B2', 21n)], ['constructor', claim('C', 12n)]]),
      writeQuorums: [1],
    }
    const d = decideMove(o)
    expect(d.kind).toBe('effect')
    expect(d.kind === 'effect' && d.effect.key.startsWith('refill-without-source')).toBe(false)
  })
})
