import {describe, expect, it} from 'vitest'
import {type DigestResponse} from '../../src/node/protocol.js'
import {fenceTooSlow} from '../../src/repair/repairService.js'

const fence = (repairScreenMs?: number): DigestResponse => ({shard: 1, epoch: 1, range: {lo: 0, hi: 10}, bounds: [0, 10], buckets: ['0000000000000000'], counts: [0], ...(repairScreenMs === undefined ? {} : {repairScreenMs})})

describe('fenceTooSlow', () => {
  it('given fence answers with repair screen windows, then a purge may follow only a fence phase shorter than half of the shortest; a replica that reports none (an older build, screening for good) sets no bound', () => {
    expect(fenceTooSlow(499, [fence(1_000), fence(5_000)])).toBeUndefined()
    expect(fenceTooSlow(500, [fence(1_000), fence(5_000)])).toMatch(/took 500 ms, not under half of the 1000 ms/)
    expect(fenceTooSlow(60_000, [fence(), fence()])).toBeUndefined()
    expect(fenceTooSlow(2_000, [fence(), fence(3_000)])).toMatch(/3000 ms/)
  })
})
