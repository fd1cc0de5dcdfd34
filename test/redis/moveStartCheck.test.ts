import {describe, expect, it} from 'vitest'
import {staleAtStart} from '../../src/redis/moveStartCheck.js'
import {type NodeState} from '../../src/model/node.js'
import {moveOf, shardOf} from '../executor/fixtures.js'

const move = moveOf({shard: 1, from: 'a', to: 'b'})
const nodes = new Set(['a', 'b', 'c'])
const states = (s: Record<string, NodeState> = {}): Map<string, NodeState> => new Map(Object.entries(s))

describe('staleAtStart: why a redis move that opened no slot must not start', () => {
  it('runs when the shard is as planned and the destination open', () => {
    expect(staleAtStart(move, shardOf(1, ['a']), nodes, states({b: 'active'}))).toBeUndefined()
  })
  it('names a shard gone, changed, or on another master', () => {
    expect(staleAtStart(move, undefined, nodes, states())).toBe('shard 1 no longer exists')
    expect(staleAtStart(move, shardOf(1, ['a'], 10), nodes, states())).toBe('shard 1 changed since the plan (epoch 10, plan expected 5)')
    expect(staleAtStart(move, shardOf(1, ['c']), nodes, states())).toBe('shard 1 is on c, not a')
  })
  it('refuses a destination cordoned, draining or no longer recorded', () => {
    expect(staleAtStart(move, shardOf(1, ['a']), nodes, states({b: 'cordoned'}))).toMatch(/^destination node "b" is cordoned: .*`shardctl node uncordon b`/)
    expect(staleAtStart(move, shardOf(1, ['a']), nodes, states({b: 'draining'}))).toMatch(/^destination node "b" is draining: /)
    expect(staleAtStart(move, shardOf(1, ['a']), new Set(['a']), states())).toBe('destination node "b" does not exist')
  })
})
