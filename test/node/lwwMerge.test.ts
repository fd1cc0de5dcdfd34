import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {formatHlc} from '../../src/model/hlc.js'
import {compareRecords, mergeRecord} from '../../src/node/lwwMerge.js'
import {type NodeRecord} from '../../src/node/protocol.js'

const key = Buffer.from('k')

/** A small version space so ties (equal versions, different payloads) happen often. */
const recordArb: fc.Arbitrary<NodeRecord> = fc
  .record({
    wall: fc.integer({min: 0, max: 3}),
    counter: fc.integer({min: 0, max: 2}),
    writer: fc.constantFrom('a', 'b', 'ab'),
    value: fc.option(fc.uint8Array({maxLength: 3}), {nil: null}),
  })
  .map(({wall, counter, writer, value}) => ({key, version: formatHlc({wall, counter, writer}), value: value === null ? null : Buffer.from(value)}))

const same = (a: NodeRecord, b: NodeRecord) => compareRecords(a, b) === 0

describe('LWW merge', {timeout: 30_000}, () => {
  it('given any two records, when merged in either order, then the result is the same (commutative)', () => {
    fc.assert(fc.property(recordArb, recordArb, (a, b) => same(mergeRecord(a, b), mergeRecord(b, a))))
  })

  it('given any three records, when merged grouped either way, then the result is the same (associative)', () => {
    fc.assert(fc.property(recordArb, recordArb, recordArb, (a, b, c) => same(mergeRecord(mergeRecord(a, b), c), mergeRecord(a, mergeRecord(b, c)))))
  })

  it('given a record, when merged with itself or re-merged, then nothing changes (idempotent)', () => {
    fc.assert(fc.property(recordArb, recordArb, (a, b) => same(mergeRecord(a, a), a) && same(mergeRecord(mergeRecord(a, b), b), mergeRecord(a, b))))
  })

  it('given any multiset of records in any order, when folded, then the result is their maximum (convergence)', () => {
    const arb = fc.array(recordArb, {minLength: 1, maxLength: 12}).chain((records) =>
      fc.tuple(fc.constant(records), fc.shuffledSubarray([...records, ...records], {minLength: records.length * 2})),
    )
    fc.assert(
      fc.property(arb, ([records, replay]) => {
        const max = records.reduce((m, r) => (compareRecords(r, m) > 0 ? r : m))
        const folded = replay.reduce<NodeRecord | undefined>((acc, r) => mergeRecord(acc, r), undefined)!
        return same(folded, max)
      }),
    )
  })

  it('given equal versions, when a tombstone meets a value, then the tombstone wins either way', () => {
    const v = formatHlc({wall: 5, counter: 0, writer: 'w'})
    const t: NodeRecord = {key, version: v, value: null}
    const val: NodeRecord = {key, version: v, value: Buffer.from('x')}
    expect(mergeRecord(t, val).value).toBeNull()
    expect(mergeRecord(val, t).value).toBeNull()
  })
})
