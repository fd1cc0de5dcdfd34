import {describe, expect, it} from 'vitest'
import {apportionLoad, estimateBytes, type ShardSample} from '../../src/redis/loadApportion.js'
import {lfuAccessWeight} from '../../src/redis/lfuCounter.js'

/**
 * The LFU path of the load estimate, end to end from OBJECT FREQ counters to per-shard ops,
 * on the shape of `demo --engine redis` at plan time: 13 hot shards and 30 cold ones on one
 * master, 32 keys sampled per shard. The load ran for seconds before the plan, so a hot key
 * was accessed about 0.65 times (counter 6 or still 5) and a cold key almost never (5, the
 * counter every key starts at). Counting a key's creation as an access gave every key a
 * weight of at least 1, the cold shards (30 × 1) outweighed the hot ones (13 × ~1.65), and the
 * plan moved every hot shard away to shed load it thought was spread evenly: the hot master
 * ended almost idle (140 → 4 ops/s).
 */
describe('LFU-apportioned load of a master with a few hot shards', () => {
  const KEYS_PER_SHARD = 465
  const sample = (shard: number, counters: readonly number[]): ShardSample => ({
    shard,
    node: 'hot',
    keys: KEYS_PER_SHARD,
    bytes: KEYS_PER_SHARD * 100,
    opsWeight: estimateBytes(KEYS_PER_SHARD, [{keys: KEYS_PER_SHARD, sizes: counters.map((c) => lfuAccessWeight(c, 10))}]),
  })
  const hotCounters = [...Array<number>(21).fill(6), ...Array<number>(11).fill(5)]
  const coldCounters = Array<number>(32).fill(5)
  const samples = [...Array.from({length: 13}, (_, i) => sample(i, hotCounters)), ...Array.from({length: 30}, (_, i) => sample(13 + i, coldCounters))]
  const load = apportionLoad(samples, new Map([['hot', {reads: 112, writes: 28}]]))

  it('puts the master\'s measured ops on its hot shards (96 % of them in truth), not evenly over every shard', () => {
    const hot = load.filter((l) => l.shard < 13).reduce((a, l) => a + l.reads + l.writes, 0)
    const all = load.reduce((a, l) => a + l.reads + l.writes, 0)
    expect(all).toBeCloseTo(140, 6)
    expect(hot / all).toBeGreaterThan(0.9)
  })

  it('gives a shard whose sampled keys were never accessed no ops', () => {
    expect(load.filter((l) => l.shard >= 13).every((l) => l.reads === 0 && l.writes === 0)).toBe(true)
  })
})
