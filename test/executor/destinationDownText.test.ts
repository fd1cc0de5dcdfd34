import {describe, expect, it} from 'vitest'
import {decideMove} from '../../src/executor/moveMachine.js'
import {type Shard} from '../../src/model/shard.js'
import {moveOf, shardOf} from './fixtures.js'
import {machineObservation} from './machineObservation.js'

/**
 * A move in `cleanup` keeps its source's copy while the destination is down and the staying voters up may not hold every
 * acknowledged write. Until session 42 the wait said "(rf 1, or a w = 1 write floor)" whatever held; since s42-voters it
 * can also be a staying voter on a replaced data dir, or one down. The message now names the reasons the facts hold.
 */
const claim = (token: string) => ({token, modRevision: 1n})
const CUT_OVER = {b: 'dir-b/i1', c: 'dir-c/i1'}

function cleanupShard(voters: string[]): Shard {
  const s = shardOf(1, voters, 9)
  return {...s, replicas: [...s.replicas, {node: 'a', role: 'leaving' as const}]}
}

function waitMessage(voters: string[], over: Parameters<typeof machineObservation>[2]): string {
  const move = moveOf({shard: 1, from: 'a', to: 'd', phase: 'cleanup', epoch: 9, cutoverAt: 't', sourceDropSentAt: null, verifiedDirs: {a: 'dir-a/i1', d: 'dir-d/i1'}, stayingDirs: CUT_OVER})
  const d = decideMove(machineObservation(move, cleanupShard(voters), {now: 1_000, alive: new Set(['a', 'b', 'c']), ...over}))
  expect(d.kind).toBe('wait')
  return (d as {retried: {message: string}}).retried.message
}

const SAME = new Map([['a', claim('dir-a/i1')], ['d', claim('dir-d/i1')], ['b', claim('dir-b/i1')], ['c', claim('dir-c/i1')]])

describe('destinationDownMessage names the reason the staying voters up are not enough', () => {
  it('a staying voter on a replaced data dir (w = 2): names it, not rf 1 or a w = 1 floor', () => {
    const m = waitMessage(['b', 'c', 'd'], {writeQuorums: [2], claims: new Map([...SAME, ['b', claim('dir-b2/i2')]])})
    expect(m).toMatch(/\(b serves another data dir than at the cutover \(replaced: what it acknowledged is gone\)\)/)
    expect(m).not.toMatch(/rf 1|w = 1/)
    expect(m).toMatch(/a's copy is kept, not dropped/)
  })

  it('rf 1: says so', () => {
    expect(waitMessage(['d'], {writeQuorums: [1], claims: SAME})).toMatch(/\(rf 1: no other voter holds the shard\)/)
  })

  it('a w = 1 write floor at rf 3: says so, and nothing else', () => {
    const m = waitMessage(['b', 'c', 'd'], {writeQuorums: [1], claims: SAME})
    expect(m).toMatch(/\(a router may acknowledge a write with w = 1 \(the cluster's write floor\)\)/)
    expect(m).not.toMatch(/replaced|[bc] is down/)
  })

  it('a staying voter down (w = 2): names it', () => {
    expect(waitMessage(['b', 'c', 'd'], {writeQuorums: [2], claims: SAME, alive: new Set(['a', 'b'])})).toMatch(/\(c is down\)/)
  })

  it('write quorums not read: says they count as w = 1', () => {
    expect(waitMessage(['b', 'c', 'd'], {claims: SAME})).toMatch(/could not be read \(counted as w = 1\)/)
  })
})
