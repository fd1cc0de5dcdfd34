import {describe, expect, it} from 'vitest'
import {judgeVotersAbandon} from '../../src/executor/votersAbandon.js'
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
