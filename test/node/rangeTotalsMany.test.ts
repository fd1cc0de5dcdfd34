import {describe, expect, it} from 'vitest'
import {HASH_SPACE, keyHash} from '../../src/model/hash.js'
import {type HashRange} from '../../src/model/range.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {ALL, engineFixture, rec, v} from './engineFixture.js'

const open = engineFixture('totals-many', {})

describe('StorageEngine.rangeTotalsMany', {timeout: 30_000}, () => {
  it('given records, values and tombstones, when many ranges (aligned, unaligned, empty, overlapping) are sized at once, then each equals a count over the records themselves', async () => {
    const {engine} = open()
    const records = Array.from({length: 1500}, (_, i) => rec(`key-${i}`, v(1), i % 7 === 0 ? null : 'x'.repeat(i % 40)))
    for (let i = 0; i < records.length; i += 250) await engine.apply(records.slice(i, i + 250))
    // Stats-like ranges: 64 shards of equal width (aligned to the digest cells or not), plus odd ones.
    const width = Math.floor(HASH_SPACE / 64)
    const ranges: HashRange[] = Array.from({length: 64}, (_, i) => ({lo: i * width, hi: i === 63 ? HASH_SPACE : (i + 1) * width}))
    ranges.push(ALL, {lo: 12_345, hi: 12_346}, {lo: 1_000_003, hi: 2_999_999_999}, {lo: HASH_SPACE - 7, hi: HASH_SPACE})
    const expected = totalsByScan(records, ranges)
    expect(expected.at(64)?.keys).toBe(1500)
    expect(expected.slice(0, 64).filter((t) => t.keys > 0).length).toBeGreaterThan(50)
    expect(engine.rangeTotalsMany(ranges)).toEqual(expected)
    expect(ranges.map((r) => engine.rangeTotals(r))).toEqual(expected)
    expect(engine.rangeTotalsMany([])).toEqual([])
    // With no write in flight the acknowledged figures are the exact ones.
    expect(engine.ackedRangeTotalsMany(ranges)).toEqual(expected)
    // And after a range drop: every acknowledged delete is in them, none left over.
    const dropped = {lo: 0, hi: HASH_SPACE / 2 + 12_345}
    await engine.deleteRange(dropped)
    const afterDrop = engine.ackedRangeTotalsMany([ALL, dropped, {lo: dropped.hi, hi: HASH_SPACE}])
    expect(afterDrop).toEqual(engine.rangeTotalsMany([ALL, dropped, {lo: dropped.hi, hi: HASH_SPACE}]))
    expect(afterDrop[1]).toEqual({keys: 0, bytes: 0})
    expect(afterDrop[0]?.keys).toBeLessThan(1500)
    expect(afterDrop[0]?.keys).toBeGreaterThan(0)
  })

  it('given a few records and many ranges narrower than a digest cell (100k shards), when sized as acknowledged, then slivers of cells with records count them and slivers of empty cells count nothing', async () => {
    const {engine} = open()
    const records = Array.from({length: 40}, (_, i) => rec(`sparse-${i}`, v(1), i % 5 === 0 ? null : 'y'.repeat(i)))
    await engine.apply(records)
    // Ranges around each record's hash cut its cell (the sliver holds the record, or only
    // its neighbours' part of the cell); the 100k-shard grid cuts mostly empty cells.
    const ranges: HashRange[] = []
    for (const record of records) {
      const h = keyHash(record.key)
      ranges.push({lo: h, hi: h + 1}, {lo: Math.max(0, h - 3), hi: h}, {lo: h + 1, hi: Math.min(HASH_SPACE, h + 5)}, {lo: Math.max(0, h - 10), hi: Math.min(HASH_SPACE, h + 10)})
    }
    const width = Math.floor(HASH_SPACE / 100_000)
    for (let i = 0; i < 100_000; i += 97) ranges.push({lo: i * width, hi: (i + 1) * width})
    const expected = totalsByScan(records, ranges)
    // The ranges around the records hold each record once: the test sees both kinds of sliver.
    expect(expected.filter((t, i) => i < records.length * 4 && i % 4 === 0 && t.keys === 1).length).toBe(records.length)
    expect(engine.ackedRangeTotalsMany(ranges)).toEqual(expected)
    expect(engine.rangeTotalsMany(ranges)).toEqual(expected)
  })
})

/** totalsByScan is the reference: each range's keys and key + value bytes, counted record by record. */
function totalsByScan(records: readonly NodeRecord[], ranges: readonly HashRange[]): {keys: number; bytes: number}[] {
  return ranges.map((r) => {
    let keys = 0
    let bytes = 0
    for (const record of records) {
      const h = keyHash(record.key)
      if (h < r.lo || h >= r.hi) continue
      keys++
      bytes += record.key.length + (record.value?.length ?? 0)
    }
    return {keys, bytes}
  })
}
