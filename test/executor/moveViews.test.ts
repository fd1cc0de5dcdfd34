import {describe, expect, it} from 'vitest'
import {etaSeconds} from '../../src/executor/moveViews.js'
import {MoveSchema} from '../../src/model/move.js'
import {moveOf} from './fixtures.js'

// The stream runs at 400 B/s, its key and value bytes (the unit of `bytes` and the estimate) at 100 B/s.
const copying = (bytes: number, totalBytes: number) => moveOf({shard: 1, from: 'n1', to: 'n2', phase: 'copying', progress: {bytes, keys: 1, totalBytes, rateBytesPerSec: 400, dataRateBytesPerSec: 100, cursor: null, stalled: false}})

describe('etaSeconds', () => {
  it('given a copy within its estimate, when estimated, then it is the data left at the data rate (the stream\'s rate, in other units, said 2.5 s)', () => {
    expect(etaSeconds(copying(200, 1200))).toBe(10)
    expect(etaSeconds(copying(1200, 1200))).toBe(0)
  })

  it('given a record written before the data rate existed, when read and estimated, then the ETA is unknown rather than one in the stream\'s unit', () => {
    const {dataRateBytesPerSec: _, ...old} = copying(200, 1200).progress
    const record = MoveSchema.parse({...copying(200, 1200), progress: old})
    expect(record.progress.dataRateBytesPerSec).toBe(0)
    expect(etaSeconds(record)).toBeNull()
  })

  it('given a copy merged from two replicas (it reads twice the planned size: expectedBytes), when estimated, then the ETA runs to all of it, not to the planned size (it went "past the estimate" halfway)', () => {
    const merged = (bytes: number) => {
      const m = copying(bytes, 1200)
      return {...m, progress: {...m.progress, expectedBytes: 2400}}
    }
    expect(etaSeconds(merged(200))).toBe(22)
    expect(etaSeconds(merged(1300))).toBe(11)
    expect(etaSeconds(merged(2500))).toBeNull()
  })

  it('given no estimate, or a copy past it, when estimated, then it is unknown (null), not "0s"', () => {
    expect(etaSeconds(copying(4, 0))).toBeNull()
    expect(etaSeconds(copying(1300, 1200))).toBeNull()
  })
})
