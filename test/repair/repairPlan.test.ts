import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {formatHlc} from '../../src/model/hlc.js'
import {mergeRecord} from '../../src/node/lwwMerge.js'
import {type DigestResponse, type NodeRecord} from '../../src/node/protocol.js'
import {differingBuckets, planRepair} from '../../src/repair/repairPlan.js'

const rec = (key: string, wall: number, value: string | null): NodeRecord => ({key: Buffer.from(key), version: formatHlc({wall, counter: 0, writer: 'w'}), value: value === null ? null : Buffer.from(value)})

const digest = (buckets: string[], bounds?: number[]): DigestResponse => ({
  shard: 0,
  epoch: 1,
  range: {lo: 0, hi: 400},
  bounds: bounds ?? buckets.map((_, i) => i * 100).concat([400]),
  buckets,
  counts: buckets.map(() => 1),
})

const h = (c: string) => c.repeat(16)

describe('differingBuckets', () => {
  it('names the buckets where any replica disagrees', () => {
    expect(differingBuckets([digest([h('0'), h('1'), h('2'), h('3')]), digest([h('0'), h('9'), h('2'), h('3')]), digest([h('0'), h('1'), h('2'), h('a')])])).toEqual([1, 3])
  })

  it('equal digests: nothing to repair; one replica: nothing to compare', () => {
    expect(differingBuckets([digest([h('0')]), digest([h('0')])])).toEqual([])
    expect(differingBuckets([digest([h('0')])])).toEqual([])
  })

  it('refuses to compare digests over different bounds', () => {
    expect(() => differingBuckets([digest([h('0'), h('1')]), digest([h('0'), h('1')], [0, 50, 400])])).toThrow(RangeError)
  })

  it('refuses to compare digests at different record hash formats, even with equal buckets; an absent format is 2', () => {
    expect(() => differingBuckets([{...digest([h('0')]), format: 3}, digest([h('0')])])).toThrow(/record hash formats 3 and 2/)
    expect(() => differingBuckets([{...digest([h('0')]), format: 2}, {...digest([h('0')]), format: 3}])).toThrow(RangeError)
    expect(differingBuckets([{...digest([h('0')]), format: 2}, digest([h('0')])])).toEqual([])
  })
})

describe('planRepair', () => {
  it('sends each replica the newest record it lacks or holds older, tombstones included', () => {
    const fixes = planRepair(
      new Map([
        ['a', [rec('k1', 2, 'new'), rec('k2', 1, 'v')]],
        ['b', [rec('k1', 1, 'old')]],
        ['c', [rec('k1', 2, 'new'), rec('k2', 3, null)]],
      ]),
    )
    expect(fixes.get('a')!.map((r) => `${r.key}:${r.value}`)).toEqual(['k2:null'])
    expect(fixes.get('b')!.map((r) => `${r.key}:${r.value}`).sort()).toEqual(['k1:new', 'k2:null'])
    expect(fixes.get('c')).toEqual([])
  })

  it('after applying the fixes every replica holds the LWW merge of all of them (property)', () => {
    const recordArb = fc.tuple(fc.constantFrom('k1', 'k2', 'k3', 'k4'), fc.integer({min: 1, max: 6}), fc.constantFrom('x', 'y', null))
    fc.assert(
      fc.property(fc.array(fc.array(recordArb, {maxLength: 6}), {minLength: 2, maxLength: 4}), (replicas) => {
        const listings = new Map<string, NodeRecord[]>()
        replicas.forEach((rs, i) => {
          const byKey = new Map<string, NodeRecord>()
          for (const [k, w, v] of rs) byKey.set(k, mergeRecord(byKey.get(k), rec(k, w, v)))
          listings.set(`n${i}`, [...byKey.values()])
        })
        const fixes = planRepair(listings)
        const states = [...listings].map(([node, rs]) => {
          const m = new Map(rs.map((r) => [r.key.toString(), r]))
          for (const f of fixes.get(node)!) m.set(f.key.toString(), mergeRecord(m.get(f.key.toString()), f))
          return JSON.stringify([...m].sort(([a], [b]) => a.localeCompare(b)).map(([k, r]) => [k, r.version, r.value?.toString() ?? null]))
        })
        expect(new Set(states).size).toBe(1)
        // and a second round finds nothing to fix
      }),
      {numRuns: 200},
    )
  })
})
