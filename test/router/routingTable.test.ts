import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {keyHash} from '../../src/model/hash.js'
import {evenRanges, rangeContains} from '../../src/model/range.js'
import {RoutingTable} from '../../src/router/routingTable.js'
import {shardOf} from './fixtures.js'

function tableOf(n: number): RoutingTable {
  return RoutingTable.of(evenRanges(n).map((r, i) => shardOf(i, 'a b c', {lo: r.lo, hi: r.hi, epoch: i + 1})).reverse())
}

describe('RoutingTable', () => {
  it('routes every key to the one shard whose range holds its hash', () => {
    const t = tableOf(16)
    fc.assert(
      fc.property(fc.uint8Array({minLength: 1, maxLength: 40}), (key) => {
        const s = t.shardForKey(key)!
        expect(rangeContains(s.range, keyHash(key))).toBe(true)
      }),
    )
  })

  it('lists shards in range order, their epochs and every node named in any role', () => {
    const t = RoutingTable.of([shardOf(1, 'a b d:joining', {lo: 100, hi: 2 ** 32}), shardOf(0, 'a c:leaving', {lo: 0, hi: 100, epoch: 4})])
    expect(t.shards().map((s) => s.id)).toEqual([0, 1])
    expect(t.epochs()).toEqual({'0': 4, '1': 1})
    expect([...t.nodes()].sort()).toEqual(['a', 'b', 'c', 'd'])
    expect(t.shard(1)?.replicas).toHaveLength(3)
  })

  it('routes a hash in a gap nowhere and resolves an overlap mid-split to the inner shard', () => {
    const gap = RoutingTable.of([shardOf(0, 'a', {lo: 0, hi: 10}), shardOf(1, 'a', {lo: 20, hi: 30})])
    expect(gap.shardForHash(15)).toBeUndefined()
    expect(gap.shardForHash(25)?.id).toBe(1)
    // Split of [0, 100) into [0, 50) + [50, 100), seen after the new shard but before the old one shrank.
    const overlap = RoutingTable.of([shardOf(0, 'a', {lo: 0, hi: 100}), shardOf(1, 'a', {lo: 50, hi: 100, epoch: 2})])
    expect(overlap.shardForHash(10)?.id).toBe(0)
    expect(overlap.shardForHash(60)?.id).toBe(1)
    expect(overlap.shardForHash(60)?.range).toEqual({lo: 50, hi: 100})
  })

  it('is empty before the map is loaded', () => {
    expect(RoutingTable.of([]).shardForKey('k')).toBeUndefined()
  })
})
