import {describe, expect, it} from 'vitest'
import {describeCopied, describeCopyProgress} from '../../src/executor/copyProgressText.js'

describe('describeCopied', () => {
  it('given a copy within its estimate, when described, then it shows copied of ~estimate', () => {
    expect(describeCopied({bytes: 4096, keys: 12, totalBytes: 1024 * 1024})).toBe('copied 4.0 KiB (12 keys) of ~1.0 MiB')
  })

  it('given no estimate (0: the plan had no load stats), when described, then it leaves the estimate out instead of "of ~0 B"', () => {
    expect(describeCopied({bytes: 4, keys: 1, totalBytes: 0})).toBe('copied 4 B (1 key)')
  })

  it('given a copy past its estimate (writes since the plan), when described, then it says so instead of "4 B of ~2 B"', () => {
    expect(describeCopied({bytes: 4, keys: 0, totalBytes: 2})).toBe('copied 4 B (0 keys), past the ~2 B estimate')
  })
})

describe('describeCopyProgress', () => {
  const p = {bytes: 4096, keys: 12, totalBytes: 1024 * 1024, dataRateBytesPerSec: 2048, stalled: false}

  it('given a running copy, when described, then the rate beside the copied bytes is theirs (key and value bytes) and the ETA follows it', () => {
    expect(describeCopyProgress(p, 510)).toBe('copied 4.0 KiB (12 keys) of ~1.0 MiB, 2.0 KiB/s, ETA 510s')
  })

  it('given no ETA, or a stalled copy, when described, then the ETA is left out and the stall is said', () => {
    expect(describeCopyProgress(p, null)).toBe('copied 4.0 KiB (12 keys) of ~1.0 MiB, 2.0 KiB/s')
    expect(describeCopyProgress({...p, stalled: true}, null)).toBe('copied 4.0 KiB (12 keys) of ~1.0 MiB, 2.0 KiB/s — STALLED')
  })
})
