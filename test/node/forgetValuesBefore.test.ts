import {describe, expect, it} from 'vitest'
import {keyHash} from '../../src/model/hash.js'
import {ALL, engineFixture, rec, v} from './engineFixture.js'

const open = engineFixture('forget-values', {})

describe('StorageEngine.forgetValuesBefore', () => {
  it('Given values and tombstones old and new in and out of a range with a gc floor, When it forgets the range before a wall, Then only the old values inside go, their floor over the range with them, and the rest stays', async () => {
    const {engine} = open()
    const keys = Array.from({length: 40}, (_, i) => `k${i}`)
    const mid = [...keys.map((k) => keyHash(Buffer.from(k)))].sort((a, b) => a - b)[20]!
    const inside = {lo: 0, hi: mid}
    const isInside = (k: string) => keyHash(Buffer.from(k)) < mid
    await engine.apply(keys.map((k, i) => rec(k, v(i % 2 === 0 ? 1_000 : 5_000), i % 4 === 1 ? null : 'x')))
    await engine.adoptFloors(ALL, [{lo: 0, hi: ALL.hi, floor: 500}])
    const deleted = await engine.forgetValuesBefore([inside], 2_000)
    const gone = keys.filter((k, i) => isInside(k) && i % 2 === 0 && i % 4 !== 1)
    expect(deleted).toBe(gone.length)
    for (const k of keys) expect(engine.get(Buffer.from(k)) === undefined, k).toBe(gone.includes(k))
    expect(engine.floorOf(0)).toBe(0)
    expect(engine.floorOf(ALL.hi - 1)).toBe(500)
    // The digest cells followed the deletion.
    expect(engine.rangeTotals(ALL).keys).toBe(keys.length - gone.length)
  })
})
