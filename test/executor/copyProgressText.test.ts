import {describe, expect, it} from 'vitest'
import {describeCopied} from '../../src/executor/copyProgressText.js'

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
