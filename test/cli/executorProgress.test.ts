import {describe, expect, it} from 'vitest'
import {progressMode} from '../../src/cli/executorProgress.js'

describe('progressMode', () => {
  it('draws the spinner only when stderr, the stream it writes to, is a terminal', () => {
    expect(progressMode(false, {stderr: true})).toBe('spinner')
    expect(progressMode(false, {stderr: false})).toBe('lines')
  })

  it('writes JSON lines with --json, terminal or not', () => {
    expect(progressMode(true, {stderr: true})).toBe('json')
    expect(progressMode(true, {stderr: false})).toBe('json')
  })
})
