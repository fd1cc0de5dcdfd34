import {describe, expect, it} from 'vitest'
import {checkWarnings, lossWarnings, type MoveWarning, openWarnings} from '../../src/model/move.js'

const w = (key: string, mayHaveLostData: boolean, acknowledgedAt?: string): MoveWarning => ({key, at: '2026-12-05T00:00:00.000Z', text: key, mayHaveLostData, ...(acknowledgedAt ? {acknowledgedAt} : {})})

describe('checkWarnings and openWarnings', () => {
  const warnings = [
    w('restart:n1:abc', true),
    w('unchecked:n2:def', false),
    w('held:n1:208', false),
    w('dropped-source:n3:dir', false), // refilled: reports no loss and needs nobody
    w('held:n1:209', false, '2026-12-05T01:00:00.000Z'),
    w('restart:n4:ghi', true, '2026-12-05T01:00:00.000Z'),
  ]
  it('checkWarnings are the unacknowledged held and unchecked warnings, none of possible data loss', () => {
    expect(checkWarnings({warnings}).map((x) => x.key)).toEqual(['unchecked:n2:def', 'held:n1:208'])
  })
  it('openWarnings are the loss warnings and the check warnings not acknowledged, in the order recorded (what `moves ack` marks)', () => {
    expect(openWarnings({warnings}).map((x) => x.key)).toEqual(['restart:n1:abc', 'unchecked:n2:def', 'held:n1:208'])
    expect(lossWarnings({warnings}).map((x) => x.key)).toEqual(['restart:n1:abc'])
    expect(openWarnings({})).toEqual([])
  })
})
