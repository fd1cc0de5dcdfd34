import {describe, expect, it} from 'vitest'
import {seededRandom} from '../../bench/seededRandom.js'
import {KEY_SAMPLE_SIZE, KeyLoadSampler, SAMPLED_SHARDS_PUBLISHED, withKeySamples} from '../../src/node/keyLoadSampler.js'
import {LoadMeter} from '../../src/node/loadMeter.js'

describe('KeyLoadSampler', () => {
  it('given many requests, when a window ends, then the sample stays bounded and mirrors where the load is', () => {
    const sampler = new KeyLoadSampler(seededRandom(7))
    // 10,000 requests: 75% on key hash 1,000, the rest spread over 100 other hashes.
    for (let i = 0; i < 10_000; i++) sampler.record(3, i % 4 === 3 ? 2_000 + (i % 100) : 1_000)
    expect(sampler.sample(3)).toBeUndefined() // the window is not complete yet
    sampler.rotate()
    const sample = sampler.sample(3)!
    expect(sample.length).toBe(KEY_SAMPLE_SIZE)
    expect([...sample]).toEqual([...sample].sort((a, b) => a - b))
    const hot = sample.filter((h) => h === 1_000).length / sample.length
    expect(hot).toBeGreaterThan(0.5)
    expect(hot).toBeLessThan(0.95)
  })

  it('given a window without requests, when it ends, then the shard publishes no sample; forget drops it', () => {
    const sampler = new KeyLoadSampler(seededRandom(1))
    sampler.record(1, 10)
    sampler.rotate()
    expect(sampler.sample(1)).toEqual([10])
    sampler.rotate()
    expect(sampler.sample(1)).toBeUndefined()
    sampler.record(2, 5)
    sampler.rotate()
    sampler.forget(2)
    expect(sampler.sample(2)).toBeUndefined()
  })

  it('given a LoadMeter fed with key hashes, when it ticks, then its key sample is the last window', () => {
    const meter = new LoadMeter(0, 10_000, seededRandom(3))
    meter.read(4, 1, 77)
    meter.write(4, 2, [88, 66])
    meter.tick(1000)
    expect(meter.keySample(4)).toEqual([66, 77, 88])
    meter.read(4) // no hash: counted, not sampled
    meter.tick(2000)
    expect(meter.keySample(4)).toBeUndefined()
  })

  it('given more shards than are published, when attaching samples, then only the busiest get one', () => {
    const rows = Array.from({length: SAMPLED_SHARDS_PUBLISHED + 4}, (_, shard) => ({shard, reads: shard, writes: 0, bytes: 0, keys: 0}))
    const out = withKeySamples(rows, (shard) => [shard])
    const sampled = out.filter((r) => r.keySample).map((r) => r.shard)
    expect(sampled).toEqual(Array.from({length: SAMPLED_SHARDS_PUBLISHED}, (_, i) => i + 4))
    expect(out.length).toBe(rows.length)
  })
})
