import {describe, expect, it} from 'vitest'
import {keyHash} from '../../src/model/hash.js'
import {type Shard} from '../../src/model/shard.js'
import {pickKeys} from '../../src/demo/skewedLoad.js'

const Q = 2 ** 30
const shards: Shard[] = [0, 1, 2, 3].map((i) => ({id: i, range: {lo: i * Q, hi: (i + 1) * Q}, epoch: 1, replicas: (i === 3 ? ['n2', 'n3'] : ['n1', 'n2']).map((node) => ({node, role: 'voter' as const}))}))

describe('pickKeys', () => {
  it('Given n1 holding shards 0-2, When keys are picked, Then hot keys hash into those shards and cold ones into shard 3', () => {
    const {hot, cold} = pickKeys(shards, 'n1', 400)
    expect(hot.flat().length + cold.length).toBe(400)
    hot.forEach((keys, i) => expect(keys.every((k) => keyHash(k) >= i * Q && keyHash(k) < (i + 1) * Q)).toBe(true))
    expect(cold.every((k) => keyHash(k) >= 3 * Q)).toBe(true)
  })

  it('Given hot shards with different fellow replicas, When weighted, Then each set of fellows gets the same share', () => {
    const mixed: Shard[] = [
      {...shards[0]!, replicas: [{node: 'n1', role: 'voter'}, {node: 'n2', role: 'voter'}]},
      {...shards[1]!, replicas: [{node: 'n1', role: 'voter'}, {node: 'n2', role: 'voter'}]},
      {...shards[2]!, replicas: [{node: 'n1', role: 'voter'}, {node: 'n3', role: 'voter'}]},
      shards[3]!,
    ]
    const {weights} = pickKeys(mixed, 'n1', 400)
    expect(weights[0]! + weights[1]!).toBeCloseTo(0.5, 9)
    expect(weights[2]).toBeCloseTo(0.5, 9)
  })

  it('Given the same shard map, When picked twice, Then the split is the same (deterministic)', () => {
    expect(pickKeys(shards, 'n1', 100)).toEqual(pickKeys(shards, 'n1', 100))
  })
})
