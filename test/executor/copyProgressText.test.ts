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

describe('describeCopied of a copy merged from several replicas', () => {
  it('given a heal reading two replicas whole (expectedBytes twice the shard), when described, then it counts towards both and says why that is more than the shard (it read "70 KiB, past the ~35 KiB estimate")', () => {
    expect(describeCopied({bytes: 36 * 1024, keys: 40, totalBytes: 35 * 1024, expectedBytes: 70 * 1024})).toBe('copied 36.0 KiB (40 keys) of ~70.0 KiB (a ~35.0 KiB shard merged from several replicas)')
  })

  it('given writes since the plan that took it past what it expected, when described, then it says so, still naming the shard', () => {
    expect(describeCopied({bytes: 71 * 1024, keys: 80, totalBytes: 35 * 1024, expectedBytes: 70 * 1024})).toBe('copied 71.0 KiB (80 keys), past the ~70.0 KiB estimate (a ~35.0 KiB shard merged from several replicas)')
  })

  it('given a copy from one source (expectedBytes the planned size), when described, then it reads as before', () => {
    expect(describeCopied({bytes: 4096, keys: 12, totalBytes: 1024 * 1024, expectedBytes: 1024 * 1024})).toBe('copied 4.0 KiB (12 keys) of ~1.0 MiB')
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
