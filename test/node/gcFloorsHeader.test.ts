import {describe, expect, it} from 'vitest'
import {encodeGcFloors, floorsOver, MAX_GC_FLOORS, parseGcFloors} from '../../src/node/gcFloorsHeader.js'

describe('the gc floors header of a copy stream', () => {
  it('Given floors over and around a range, When clipped to it, Then only their parts inside it are kept (floors of 0 left out)', () => {
    const floors = [{lo: 0, hi: 100, floor: 7}, {lo: 150, hi: 400, floor: 9}, {lo: 300, hi: 500, floor: 0}, {lo: 500, hi: 600, floor: 3}]
    expect(floorsOver(floors, {lo: 50, hi: 500})).toEqual([{lo: 50, hi: 100, floor: 7}, {lo: 150, hi: 400, floor: 9}])
  })

  it('Given floors, When encoded and parsed, Then they come back; an absent header (an older source) parses to undefined, none to []', () => {
    const floors = [{lo: 0, hi: 100, floor: 1_764_000_000_000}, {lo: 100, hi: 4_294_967_296, floor: 5}]
    expect(parseGcFloors(encodeGcFloors(floors))).toEqual(floors)
    expect(parseGcFloors(undefined)).toBeUndefined()
    expect(parseGcFloors(encodeGcFloors([]))).toEqual([])
    // Past the bound, the highest floors are kept (the rest of the range is copied as from an older source).
    const many = Array.from({length: MAX_GC_FLOORS + 10}, (_, i) => ({lo: i, hi: i + 1, floor: i + 1}))
    const sent = parseGcFloors(encodeGcFloors(many))!
    expect(sent.length).toBe(MAX_GC_FLOORS)
    expect(Math.min(...sent.map((f) => f.floor))).toBe(11)
  })

  it('Given a header that is not a list of [lo, hi, floor] non-negative integers with lo < hi, When parsed, Then it throws a RangeError naming it', () => {
    for (const bad of ['nope', '{}', '[[1,2]]', '[[2,1,5]]', '[[0,1,-1]]', '[[0,1.5,3]]', '[["0",1,3]]', JSON.stringify(Array.from({length: MAX_GC_FLOORS + 1}, () => [0, 1, 1]))]) {
      expect(() => parseGcFloors(bad), bad).toThrow(/x-shardctl-gc-floors/)
    }
  })
})
