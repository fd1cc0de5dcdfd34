import {describe, expect, it} from 'vitest'
import {planInitialLayout} from '../../src/cluster/initCluster.js'
import {checkTiling} from '../../src/model/range.js'

const nodes = (n: number, zones: number) => Array.from({length: n}, (_, i) => ({id: `n${i + 1}`, address: `127.0.0.1:${7001 + i}`, zone: `z${i % zones}`}))

describe('planInitialLayout', () => {
  it('tiles the hash space, never puts two replicas on one node, and spreads zones', () => {
    const {shards} = planInitialLayout({shards: 256, rf: 3, nodes: nodes(9, 3)}, 't')
    expect(checkTiling(shards.map((s) => s.range))).toBeUndefined()
    const zoneOf = new Map(nodes(9, 3).map((n) => [n.id, n.zone]))
    for (const s of shards) {
      expect(new Set(s.replicas.map((r) => r.node)).size).toBe(3)
      expect(new Set(s.replicas.map((r) => zoneOf.get(r.node))).size).toBe(3)
      expect(s.epoch).toBe(1)
      expect(s.replicas.every((r) => r.role === 'voter')).toBe(true)
    }
  })

  it('is deterministic and independent of the order nodes are given in', () => {
    const a = planInitialLayout({shards: 64, rf: 2, nodes: nodes(5, 1)}, 't')
    const b = planInitialLayout({shards: 64, rf: 2, nodes: nodes(5, 1).reverse()}, 't')
    expect(b.shards).toEqual(a.shards)
  })

  it('refuses impossible settings', () => {
    expect(() => planInitialLayout({shards: 4, rf: 3, nodes: nodes(2, 1)}, 't')).toThrow(/--rf 3 needs at least 3 nodes/)
    expect(() => planInitialLayout({shards: 0, rf: 1, nodes: nodes(2, 1)}, 't')).toThrow(/--shards must be/)
    expect(() => planInitialLayout({shards: 4, rf: 0, nodes: nodes(2, 1)}, 't')).toThrow(/--rf must be/)
  })
})
