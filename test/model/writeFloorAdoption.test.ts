import {describe, expect, it} from 'vitest'
import {isUserError} from '../../src/errors/errors.js'
import {newWriteFloor, parseWriteFloor} from '../../src/model/writeFloor.js'
import {adoptWriteFloor, formatLowestW, parseLowestW} from '../../src/model/writeFloorAdoption.js'

const NOW = '2026-12-03T22:00:00.000Z'
const adopt = (lowestW: string, registered: (number | null | undefined)[] = [], existing?: string) => adoptWriteFloor({existing, stated: parseLowestW(lowestW), registered, now: NOW})
const codeOf = (f: () => unknown) => {
  try {
    f()
  } catch (err) {
    return isUserError(err) ? err.code : 'not a UserError'
  }
  return 'no error'
}

describe('--lowest-w (pure)', () => {
  it('reads N, majority and N,majority', () => {
    expect(parseLowestW('2')).toEqual({w: 2, majority: false})
    expect(parseLowestW('majority')).toEqual({w: null, majority: true})
    expect(parseLowestW('3,majority')).toEqual({w: 3, majority: true})
    expect(parseLowestW(' Majority , 3 ')).toEqual({w: 3, majority: true})
    expect(formatLowestW(parseLowestW('majority,3'))).toBe('3,majority')
  })

  it('refuses missing, 0, words, fractions and two counts with BAD_INPUT (exit 2)', () => {
    for (const bad of [undefined, '', '0', '-1', 'fast', '1.5', '2,3', 'majority,majority', '2,', 'w2']) expect(codeOf(() => parseLowestW(bad)), String(bad)).toBe('BAD_INPUT')
  })
})

describe('adopting a write floor (pure)', () => {
  it('only when the key is absent: an existing floor, even an empty one, is refused with ALREADY_EXISTS', () => {
    expect(codeOf(() => adopt('2', [], JSON.stringify(newWriteFloor(NOW))))).toBe('ALREADY_EXISTS')
    expect(codeOf(() => adopt('majority', [], '{unreadable'))).toBe('ALREADY_EXISTS')
  })

  it('with no router registered it is the operator\'s statement, marked as adopted, and reads back as a valid floor', () => {
    const f = adopt('2')
    expect(f).toEqual({version: 1, w: 2, majority: false, updatedAt: NOW, by: null, adopted: {at: NOW, lowestW: '2', routers: 0}})
    expect(parseWriteFloor(JSON.stringify(f))).toEqual(f)
    expect(adopt('majority')).toMatchObject({w: null, majority: true})
    expect(adopt('3,majority')).toMatchObject({w: 3, majority: true})
  })

  it('is lowered to every registered router, never above what one says (one that does not say counts as 1)', () => {
    // A registered --w 1 router keeps it at 1 whatever the operator says.
    expect(adopt('majority', [null, 1])).toMatchObject({w: 1, majority: true, adopted: {lowestW: 'majority', routers: 2}})
    expect(adopt('3', [2])).toMatchObject({w: 2, majority: false})
    expect(adopt('2', [undefined])).toMatchObject({w: 1})
    expect(adopt('2', [null])).toMatchObject({w: 2, majority: true})
    // A registered router with a larger quorum does not raise the statement.
    expect(adopt('2', [3, null])).toMatchObject({w: 2, majority: true})
  })
})
