import {describe, expect, it} from 'vitest'
import {decideMove, type MoveObservation} from '../../src/executor/moveMachine.js'
import {type Move} from '../../src/model/move.js'
import {type Shard} from '../../src/model/shard.js'
import {moveOf, shardOf} from './fixtures.js'
import {machineObservation} from './machineObservation.js'

/**
 * A staying voter (b, c: the shard's voters the move neither leaves nor joins) restarted on a replaced data dir (served
 * with --accept-empty-data) lost every write it acknowledged. Until session 42 the move counted it as a holder all the
 * same (moveMachine.ts stayingVotersEnough): rf 3 with w = 2, a write acknowledged before cutover by the source a,
 * b and the destination d (the joint quorum) is on a, b and d alone; with b replaced and d down in cleanup, the source's
 * copy, the last whole one of it, was dropped. The cutover now records the staying voters' claims (`stayingDirs`) and
 * a voter on another data dir since is not counted.
 */
const claim = (token: string, modRevision = 1n) => ({token, modRevision})
const CUT_OVER = {b: 'dir-b/i1', c: 'dir-c/i1'}

function cleanupShard(): Shard {
  const s = shardOf(1, ['b', 'c', 'd'], 9)
  return {...s, replicas: [...s.replicas, {node: 'a', role: 'leaving' as const}]}
}

function observation(move: Move, shard: Shard, over: Partial<MoveObservation>): MoveObservation {
  return machineObservation(move, shard, {now: 1_000, writeQuorums: [2], ...over})
}

describe('staying voters judged by the data dir they served at cutover', () => {
  it('the cutover records the staying voters\' claims (stayingDirs) beside the verified pair', () => {
    const s = shardOf(1, ['a', 'b', 'c'], 7)
    const shard = {...s, replicas: [...s.replicas, {node: 'd', role: 'joining' as const}]}
    const move = moveOf({shard: 1, from: 'a', to: 'd', phase: 'verifying', epoch: 7})
    const claims = new Map([['a', claim('dir-a/i1')], ['d', claim('dir-d/i1')], ['b', claim('dir-b/i1')], ['c', claim('dir-c/i1')]])
    const pair = ['d', 'a'].map((n) => `${n}=${claims.get(n)!.token}`).join(',')
    const d = decideMove(observation(move, shard, {claims, done: new Set(['barrier@50', `verify@${pair}`])}))
    expect(d).toMatchObject({kind: 'commit', transition: {phase: 'cutover'}, patch: {verifiedDirs: {a: 'dir-a/i1', d: 'dir-d/i1'}, stayingDirs: CUT_OVER}})
  })

  describe('cleanup with the destination down (w = 2): the source\'s copy is dropped only while the staying voters up hold every acknowledged write', () => {
    const move = moveOf({shard: 1, from: 'a', to: 'd', phase: 'cleanup', epoch: 9, cutoverAt: 't', sourceDropSentAt: null, verifiedDirs: {a: 'dir-a/i1', d: 'dir-d/i1'}, stayingDirs: CUT_OVER})
    const down = (claims: Map<string, {token: string; modRevision: bigint}>) => decideMove(observation(move, cleanupShard(), {alive: new Set(['a', 'b', 'c']), claims}))

    it('keeps it when a staying voter serves a replaced data dir (it lost what it acknowledged)', () => {
      const d = down(new Map([['a', claim('dir-a/i1')], ['d', claim('dir-d/i1')], ['b', claim('dir-b2/i2')], ['c', claim('dir-c/i1')]]))
      expect(d).toMatchObject({kind: 'wait', retried: {message: expect.stringContaining("a's copy is kept, not dropped")}})
    })

    it('drops it when the staying voters serve the data dirs they had (a plain restart keeps its copy)', () => {
      const d = down(new Map([['a', claim('dir-a/i1')], ['d', claim('dir-d/i1')], ['b', claim('dir-b/i2')], ['c', claim('dir-c/i1')]]))
      expect(d).toMatchObject({kind: 'commit', transition: {phase: 'cleanup'}, patch: {sourceDropSentAt: expect.any(String)}})
    })

    it('does not judge a move cut over before stayingDirs was recorded', () => {
      const d = decideMove(observation({...move, stayingDirs: undefined}, cleanupShard(), {alive: new Set(['a', 'b', 'c']), claims: new Map([['b', claim('dir-b2/i2')]])}))
      expect(d).toMatchObject({kind: 'commit', patch: {sourceDropSentAt: expect.any(String)}})
    })
  })

  it('a destination refilled after the source\'s drop with a staying voter on a replaced dir records a warning of possible data loss, not "hold every acknowledged write"', () => {
    const move = moveOf({shard: 1, from: 'a', to: 'd', phase: 'cleanup', epoch: 9, cutoverAt: 't', sourceDropSentAt: 't', verifiedDirs: {a: 'dir-a/i1', d: 'dir-d/i1'}, stayingDirs: CUT_OVER})
    const claims = new Map([['a', claim('dir-a/i1')], ['d', claim('dir-d2/i2')], ['b', claim('dir-b2/i2')], ['c', claim('dir-c/i1')]])
    const key = `refill-after-drop@d=dir-d2/i2,a=dir-a/i1,b=dir-b2/i2,c=dir-c/i1`
    const d = decideMove(observation(move, cleanupShard(), {claims, done: new Set([key])}))
    expect(d.kind).toBe('commit')
    const warnings = d.kind === 'commit' ? (d.patch?.warnings ?? []) : []
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatchObject({mayHaveLostData: true})
  })

  it('a refill without the abandoned source names the staying voter on a replaced dir in what is lost', () => {
    const move = moveOf({shard: 1, from: 'a', to: 'd', phase: 'release', epoch: 9, cutoverAt: 't', abandonSourceRequested: 't', verifiedDirs: {a: 'dir-a/i1', d: 'dir-d/i1'}, stayingDirs: CUT_OVER})
    const claims = new Map([['a', claim('dir-a/i1')], ['d', claim('dir-d2/i2')], ['b', claim('dir-b2/i2')], ['c', claim('dir-c/i1')]])
    const key = `refill-without-source@d=dir-d2/i2,b=dir-b2/i2,c=dir-c/i1`
    const d = decideMove(observation(move, cleanupShard(), {alive: new Set(['b', 'c', 'd']), claims, done: new Set([key])}))
    expect(d).toMatchObject({kind: 'commit', patch: {reason: expect.stringContaining('what only b held on the data dir it served at cutover')}})
  })
})
