import {describe, expect, it} from 'vitest'
import {checkTiling} from '../../src/model/range.js'
import {redisLayout} from '../../src/redis/redisLayout.js'
import {SLOT_COUNT, slotsOfRange} from '../../src/redis/slotMap.js'

const master = (id: string, address: string, slots: number[]) => ({id, address, flags: ['master'], masterId: null, configEpoch: 1, linkConnected: true, slots, migrating: new Map(), importing: new Map()})
const range = (lo: number, hi: number) => Array.from({length: hi - lo}, (_, i) => lo + i)

describe('redisLayout', () => {
  it('records masters (an empty one too: a rebalance target) and tiles the hash space with one-owner slot ranges', () => {
    const a = 'a1'.repeat(20)
    const b = 'b2'.repeat(20)
    const c = 'c3'.repeat(20)
    const {nodes, shards} = redisLayout([master(a, '127.0.0.1:7000', range(0, 10_000)), master(b, '127.0.0.1:7001', range(10_000, SLOT_COUNT)), master(c, '127.0.0.1:7002', [])], 1000, '2026-01-01T00:00:00Z')
    expect(nodes.map((n) => n.id)).toEqual(['a1a1a1a1a1a1', 'b2b2b2b2b2b2', 'c3c3c3c3c3c3'])
    expect(checkTiling(shards.map((s) => s.range))).toBeUndefined()
    expect(shards.map((s) => s.id)).toEqual(shards.map((_, i) => i))
    for (const s of shards) {
      const {first, end} = slotsOfRange(s.range)
      expect(end - first).toBeLessThanOrEqual(1000)
      expect(s.replicas).toEqual([{node: first < 10_000 ? 'a1a1a1a1a1a1' : 'b2b2b2b2b2b2', role: 'voter'}])
      expect(s.epoch).toBe(1)
    }
    expect(shards).toHaveLength(10 + 7)
  })

  it('refuses an impossible cut size', () => {
    expect(() => redisLayout([], 0, 'now')).toThrow(RangeError)
  })
})
