import {describe, expect, it} from 'vitest'
import {etaSeconds} from '../../src/executor/moveViews.js'
import {moveOf} from './fixtures.js'

const copying = (bytes: number, totalBytes: number) => moveOf({shard: 1, from: 'n1', to: 'n2', phase: 'copying', progress: {bytes, keys: 1, totalBytes, rateBytesPerSec: 100, cursor: null, stalled: false}})

describe('etaSeconds', () => {
  it('given a copy within its estimate, when estimated, then it is what is left at the current rate', () => {
    expect(etaSeconds(copying(200, 1200))).toBe(10)
    expect(etaSeconds(copying(1200, 1200))).toBe(0)
  })

  it('given no estimate, or a copy past it, when estimated, then it is unknown (null), not "0s"', () => {
    expect(etaSeconds(copying(4, 0))).toBeNull()
    expect(etaSeconds(copying(1300, 1200))).toBeNull()
  })
})
