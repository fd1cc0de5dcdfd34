import {describe, expect, it} from 'vitest'
import {apportionLoad} from '../../src/redis/loadApportion.js'
import {isLfuPolicy, lfuAccessWeight} from '../../src/redis/lfuCounter.js'
import {parseSlotStats, slotCpuDelta} from '../../src/redis/slotStats.js'
import {SLOT_STATS_ENABLED, SLOT_STATS_ENABLED_LATER, SLOT_STATS_KEY_COUNT_ONLY, SLOT_STATS_UPPERCASE} from './fixtures/slotStatsReplies.js'

describe('CLUSTER SLOT-STATS parsing', () => {
  it('reads every metric of a reply with cluster-slot-stats-enabled', () => {
    const stats = parseSlotStats(SLOT_STATS_ENABLED)
    expect([...stats.keys()]).toEqual([0, 1, 2])
    expect(stats.get(1)).toEqual({keyCount: 45, cpuUsec: 1830, networkBytesIn: 2400, networkBytesOut: 9100})
  })

  it('reads key-count-only replies without inventing cpu figures, and uppercase names', () => {
    const stats = parseSlotStats(SLOT_STATS_KEY_COUNT_ONLY)
    expect(stats.get(12426)).toEqual({keyCount: 45})
    expect(stats.get(2704)).toEqual({keyCount: 11})
    expect(parseSlotStats(SLOT_STATS_UPPERCASE).get(7)).toEqual({keyCount: 3, cpuUsec: 250, networkBytesIn: 90, networkBytesOut: 120})
  })

  it('refuses replies of another shape, naming the entry', () => {
    expect(() => parseSlotStats('ERR unknown subcommand')).toThrow(/not an array/)
    expect(() => parseSlotStats([[1, ['key-count']]])).toThrow(/entry 0/)
    expect(() => parseSlotStats([[16384, ['key-count', 1]]])).toThrow(/entry 0/)
    expect(() => parseSlotStats([[3, ['cpu-usec', 'lots']]])).toThrow(/slot 3: metric cpu-usec/)
  })

  it('turns two readings into per-slot cpu deltas, a reset counter counting 0', () => {
    const delta = slotCpuDelta(parseSlotStats(SLOT_STATS_ENABLED), parseSlotStats(SLOT_STATS_ENABLED_LATER))
    expect(delta && Object.fromEntries(delta)).toEqual({0: 0, 1: 5000, 2: 0})
  })

  it('has no cpu delta when the server only counts keys, so the sampler falls back', () => {
    expect(slotCpuDelta(new Map(), parseSlotStats(SLOT_STATS_KEY_COUNT_ONLY))).toBeNull()
  })
})

describe('LFU counter inversion', () => {
  it('grows with the counter and matches the logarithmic increment rule', () => {
    // From 5 to 7 with factor 10: steps at c=5 (p=1) and c=6 (p=1/11): 1 + 11 expected accesses.
    expect(lfuAccessWeight(7, 10)).toBe(2 + 10)
    expect(lfuAccessWeight(6, 10)).toBe(1)
    const ws = [6, 7, 20, 100, 255].map((c) => lfuAccessWeight(c, 10))
    expect([...ws].sort((a, b) => a - b)).toEqual(ws)
    expect(new Set(ws).size).toBe(ws.length)
  })

  it('counts no access for a key still at the counter it was created with, or decayed below it', () => {
    // A key's creation is not load: weighing it as an access made never-read keys look busy.
    expect([0, 3, 5].map((c) => lfuAccessWeight(c, 10))).toEqual([0, 0, 0])
  })

  it('refuses counters outside what OBJECT FREQ can return', () => {
    expect(() => lfuAccessWeight(256, 10)).toThrow(RangeError)
    expect(() => lfuAccessWeight(-1, 10)).toThrow(RangeError)
    expect(() => lfuAccessWeight(10, -1)).toThrow(RangeError)
  })

  it('knows which maxmemory policies keep LFU counters', () => {
    expect(['allkeys-lfu', 'volatile-lfu', 'ALLKEYS-LFU'].map(isLfuPolicy)).toEqual([true, true, true])
    expect(['noeviction', 'allkeys-lru', 'volatile-ttl', 'allkeys-random', ''].map(isLfuPolicy)).toEqual([false, false, false, false, false])
  })
})

describe('apportionLoad with a measured ops weight', () => {
  const ops = new Map([['a', {reads: 1000, writes: 100}]])

  it('splits by the weight, not key share, when every shard of the node has one', () => {
    // Shard 1 holds a tenth of the keys but nine tenths of the CPU time.
    const out = apportionLoad(
      [
        {shard: 0, node: 'a', keys: 900, bytes: 900, opsWeight: 100},
        {shard: 1, node: 'a', keys: 100, bytes: 100, opsWeight: 900},
      ],
      ops,
    )
    expect(out.map((l) => [l.reads, l.writes])).toEqual([
      [100, 10],
      [900, 90],
    ])
  })

  it('falls back to key share when a shard has no weight or all weights are 0', () => {
    const partial = apportionLoad(
      [
        {shard: 0, node: 'a', keys: 900, bytes: 900, opsWeight: 100},
        {shard: 1, node: 'a', keys: 100, bytes: 100, opsWeight: null},
      ],
      ops,
    )
    expect(partial.map((l) => l.reads)).toEqual([900, 100])
    const zero = apportionLoad(
      [
        {shard: 0, node: 'a', keys: 900, bytes: 900, opsWeight: 0},
        {shard: 1, node: 'a', keys: 100, bytes: 100, opsWeight: 0},
      ],
      ops,
    )
    expect(zero.map((l) => l.reads)).toEqual([900, 100])
  })
})
