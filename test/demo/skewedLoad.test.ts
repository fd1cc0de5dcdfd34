import {describe, expect, it} from 'vitest'
import {keyHash} from '../../src/model/hash.js'
import {type Shard} from '../../src/model/shard.js'
import {pickKeys} from '../../src/demo/skewedLoad.js'

const Q = 2 ** 30
const shards: Shard[] = [0, 1, 2, 3].map((i) => ({id: i, range: {lo: i * Q, hi: (i + 1) * Q}, epoch: 1, replicas: (i === 3 ? ['n2', 'n3'] : ['n1', 'n2']).map((node) => ({node, role: 'voter' as const}))}))

describe('pickKeys', () => {
  it('Given n1 holding shards 0-2, When keys are picked, Then hot keys hash into those shards and cold ones into shard 3', () => {
    const {hot, cold} = pickKeys(shards, 'n1', 400)
    expect(hot.length + cold.length).toBe(400)
    expect(hot.every((k) => keyHash(k) < 3 * Q)).toBe(true)
    expect(cold.every((k) => keyHash(k) >= 3 * Q)).toBe(true)
    // Roughly three quarters of a uniform hash land in three of four equal ranges.
    expect(hot.length).toBeGreaterThan(250)
    expect(hot.length).toBeLessThan(350)
  })

  it('Given the same shard map, When picked twice, Then the split is the same (deterministic)', () => {
    expect(pickKeys(shards, 'n1', 100)).toEqual(pickKeys(shards, 'n1', 100))
  })
})
