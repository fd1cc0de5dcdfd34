import {describe, expect, it} from 'vitest'
import {batchByteBudget, keysWithinBytes, migrateBatchKeys, tightestRate} from '../../src/redis/migrateBatch.js'
import {mastersOfRunningMoves} from '../../src/redis/moveLatency.js'

describe('migrateBatchKeys', () => {
  it('carries the most keys allowed when nothing limits the rate, or before any key size is known', () => {
    expect(migrateBatchKeys(100, null, null, null)).toBe(100)
    expect(migrateBatchKeys(100, 1024, null, null)).toBe(100)
  })

  it('shrinks a batch to a tenth of a second of the byte rate at the mean key size, so a backed-off throttle means short MIGRATE stalls', () => {
    // 64 KiB/s, 1 KiB keys: 6.4 KiB per tenth of a second -> 6 keys
    expect(migrateBatchKeys(100, 64 * 1024, null, 1024)).toBe(6)
    // 8 MiB/s, 1 KiB keys: 819 keys fit, capped at 100
    expect(migrateBatchKeys(100, 8 * 1024 * 1024, null, 1024)).toBe(100)
  })

  it('shrinks a batch to a tenth of a second of the key rate, the tighter of the two limits winning', () => {
    expect(migrateBatchKeys(100, null, 200, 1024)).toBe(20)
    expect(migrateBatchKeys(100, 64 * 1024, 200, 1024)).toBe(6)
    expect(migrateBatchKeys(100, 8 * 1024 * 1024, 200, 1024)).toBe(20)
  })

  it('never goes below one key, however slow the rate or big the keys', () => {
    expect(migrateBatchKeys(100, 1, 1, 1024 * 1024)).toBe(1)
    expect(migrateBatchKeys(100, 1024, null, 16 * 1024 * 1024)).toBe(1)
  })
})

describe('batchByteBudget and keysWithinBytes: a batch cut to its keys\' measured sizes', () => {
  it('is a tenth of a second of the byte rate, never above the big-key limit', () => {
    expect(batchByteBudget(null, 8 << 20)).toBe(8 << 20)
    expect(batchByteBudget(1 << 20, 8 << 20)).toBe((1 << 20) / 10)
    expect(batchByteBudget(1 << 30, 8 << 20)).toBe(8 << 20)
  })

  it('takes the longest prefix within the budget, at least one key', () => {
    expect(keysWithinBytes([100, 100, 100], 1000)).toBe(3)
    expect(keysWithinBytes([100, 100, 100], 250)).toBe(2)
    expect(keysWithinBytes([100, 100, 100], 200)).toBe(2)
    expect(keysWithinBytes([5000, 100], 1000)).toBe(1) // a key above the budget goes alone
    expect(keysWithinBytes([100, 5000, 100], 1000)).toBe(1) // and next batch
    expect(keysWithinBytes([], 1000)).toBe(0)
  })
})

describe('tightestRate', () => {
  it('is the lowest limited rate, null when all are unlimited', () => {
    expect(tightestRate([null, null])).toBeNull()
    expect(tightestRate([null, 500, 2000])).toBe(500)
    expect(tightestRate([])).toBeNull()
  })
})

describe('mastersOfRunningMoves', () => {
  it('lists each source and target once, leaving out ids with no recorded address', () => {
    const addresses = new Map([
      ['a', '127.0.0.1:7000'],
      ['b', '127.0.0.1:7001'],
      ['c', '127.0.0.1:7002'],
    ])
    expect(mastersOfRunningMoves([{from: 'a', to: 'b'}, {from: 'a', to: 'c'}, {from: 'x', to: 'b'}], addresses)).toEqual(['127.0.0.1:7000', '127.0.0.1:7001', '127.0.0.1:7002'])
    expect(mastersOfRunningMoves([], addresses)).toEqual([])
  })
})
