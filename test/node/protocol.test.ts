import {describe, expect, it} from 'vitest'
import {APPLY_KINDS, countsAsClientWrite} from '../../src/node/protocol.js'

describe('countsAsClientWrite', () => {
  it('Given an apply, Then only a write that is not a replay counts as client write load', () => {
    const table = APPLY_KINDS.flatMap((kind) => [false, true].map((replay) => [kind, replay, countsAsClientWrite(kind, replay)]))
    expect(table).toEqual([
      ['write', false, true],
      ['write', true, false],
      ['repair', false, false],
      ['repair', true, false],
    ])
  })
})
