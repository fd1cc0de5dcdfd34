import {describe, expect, it} from 'vitest'
import {opsRate, parseCommandStats} from '../../src/redis/commandStats.js'
import {apportionLoad, estimateBytes} from '../../src/redis/loadApportion.js'
import {decideOpenSlot} from '../../src/redis/openSlotDecision.js'
import {formatMoveCursor, parseMoveCursor} from '../../src/redis/moveCursor.js'

const INFO = [
  '# Commandstats',
  'cmdstat_get:calls=900,usec=1000,usec_per_call=1.11,rejected_calls=0,failed_calls=0',
  'cmdstat_set:calls=100,usec=300,usec_per_call=3.00,rejected_calls=0,failed_calls=0',
  'cmdstat_hset:calls=50,usec=300,usec_per_call=6.00,rejected_calls=0,failed_calls=0',
  'cmdstat_cluster|nodes:calls=4000,usec=9,usec_per_call=0.1,rejected_calls=0,failed_calls=0',
  'cmdstat_migrate:calls=70,usec=9,usec_per_call=0.1,rejected_calls=0,failed_calls=0',
  'cmdstat_info:calls=12,usec=9,usec_per_call=0.1,rejected_calls=0,failed_calls=0',
].join('\r\n')

describe('INFO commandstats', () => {
  it('counts data commands as reads or writes and skips admin and migration traffic', () => {
    expect(parseCommandStats(INFO)).toEqual({reads: 900, writes: 150})
  })

  it('turns two readings into per-second rates, and a counter reset into 0 rather than a negative rate', () => {
    expect(opsRate({reads: 100, writes: 10}, {reads: 600, writes: 60}, 500)).toEqual({reads: 1000, writes: 100})
    expect(opsRate({reads: 600, writes: 60}, {reads: 5, writes: 1}, 1000)).toEqual({reads: 0, writes: 0})
  })
})

describe('estimateBytes (stratified by slot)', () => {
  it('weights each sampled slot by its own key count, so one slot of big values is not averaged away', () => {
    // 1000 keys of ~1000 B in one slot, 10 slots of 10 keys of ~100 B each: the naive mean of samples would be ~180 B/key.
    const strata = [{keys: 1000, sizes: [1000, 1000, 1000]}, ...Array.from({length: 10}, () => ({keys: 10, sizes: [100, 100, 100]}))]
    expect(estimateBytes(1100, strata)).toBe(1000 * 1000 + 100 * 100)
  })

  it('gives keys in unsampled slots the overall sampled mean, and null when nothing was sampled', () => {
    expect(estimateBytes(30, [{keys: 10, sizes: [200, 400]}])).toBe(10 * 300 + 20 * 300)
    expect(estimateBytes(5, [{keys: 5, sizes: []}])).toBeNull()
  })
})

describe('apportionLoad', () => {
  it("splits each node's ops by key share, so per-node totals are what was measured", () => {
    const out = apportionLoad(
      [
        {shard: 0, node: 'a', keys: 300, bytes: 3000},
        {shard: 1, node: 'a', keys: 100, bytes: null},
        {shard: 2, node: 'b', keys: 0, bytes: null},
        {shard: 3, node: 'b', keys: 0, bytes: null},
      ],
      new Map([
        ['a', {reads: 400, writes: 40}],
        ['b', {reads: 10, writes: 0}],
      ]),
    )
    expect(out).toEqual([
      {node: 'a', shard: 0, reads: 300, writes: 30, bytes: 3000, keys: 300},
      // No sample: the node's mean bytes per key (3000 / 300).
      {node: 'a', shard: 1, reads: 100, writes: 10, bytes: 1000, keys: 100},
      // A node without keys splits its ops evenly.
      {node: 'b', shard: 2, reads: 5, writes: 0, bytes: 0, keys: 0},
      {node: 'b', shard: 3, reads: 5, writes: 0, bytes: 0, keys: 0},
    ])
  })
})

describe('decideOpenSlot', () => {
  it('finishes when the target has keys or owns the slot, rolls back when every key is still on the source', () => {
    expect(decideOpenSlot({sourceKeys: 5, targetKeys: 3, targetOwns: false, preferFinish: false})).toBe('finish')
    expect(decideOpenSlot({sourceKeys: 0, targetKeys: 0, targetOwns: true, preferFinish: false})).toBe('finish')
    expect(decideOpenSlot({sourceKeys: 0, targetKeys: 3, targetOwns: false, preferFinish: false})).toBe('finish')
    expect(decideOpenSlot({sourceKeys: 5, targetKeys: 0, targetOwns: false, preferFinish: false})).toBe('rollback')
    expect(decideOpenSlot({sourceKeys: 0, targetKeys: 0, targetOwns: false, preferFinish: false})).toBe('rollback')
    expect(decideOpenSlot({sourceKeys: 5, targetKeys: 0, targetOwns: false, preferFinish: true})).toBe('finish')
  })
})

describe('move cursor', () => {
  it('round-trips, and reads a foreign or corrupt cursor as "not started"', () => {
    const c = {dir: 'back' as const, next: 41, open: true}
    expect(parseMoveCursor(formatMoveCursor(c))).toEqual(c)
    expect(parseMoveCursor(null)).toBeUndefined()
    expect(parseMoveCursor('{"chunk":3}')).toBeUndefined()
    expect(parseMoveCursor('not json')).toBeUndefined()
  })
})
