import {describe, expect, it} from 'vitest'
import {DeleteReports, deleteRemovedValue} from '../../src/router/deleteOutcome.js'

describe('deleteRemovedValue', () => {
  it('is true when the newest replaced record is a value', () => {
    expect(deleteRemovedValue([{version: '2', live: true}, {version: '1', live: false}, {live: false}])).toBe(true)
  })

  it('is false when the newest replaced record is a tombstone, even if an older value sits on another replica', () => {
    expect(deleteRemovedValue([{version: '1', live: true}, {version: '2', live: false}])).toBe(false)
  })

  it('ranks a replica that held nothing below any version', () => {
    expect(deleteRemovedValue([{live: false}, {version: '1', live: true}, {live: false}])).toBe(true)
    expect(deleteRemovedValue([{live: false}, {live: false}])).toBe(false)
  })

  it('is undefined when no replica told', () => {
    expect(deleteRemovedValue([])).toBeUndefined()
  })
})

describe('DeleteReports', () => {
  it('answers from every acknowledging replica once each has told', () => {
    const r = new DeleteReports()
    r.issue('5')
    r.report('a', {version: '3', live: true})
    r.report('b', {live: false})
    expect(r.outcome(['a', 'b'], true)).toBe(true)
  })

  it('is undefined, not false, when an acknowledging replica never told (it may hold the value)', () => {
    const r = new DeleteReports()
    r.issue('5')
    r.report('b', {live: false})
    r.report('a', undefined)
    expect(r.outcome(['a', 'b'], true)).toBeUndefined()
    expect(r.outcome(['b'], true)).toBe(false)
  })

  it('is undefined when write quorums need not meet', () => {
    const r = new DeleteReports()
    r.issue('5')
    r.report('b', {live: false})
    expect(r.outcome(['b'], false)).toBeUndefined()
  })

  it("keeps what a replica told in an earlier round when a re-issue there only replaced the call's own tombstone", () => {
    const r = new DeleteReports()
    r.issue('5')
    r.report('a', {version: '3', live: true}) // round 1: a stored 5 over v@3 (its answer may even come after the round failed)
    r.issue('9')
    r.report('a', {version: '5', live: false}) // round 2: 9 over the call's own 5 tells nothing
    r.report('c', {live: false})
    expect(r.outcome(['a', 'c'], true)).toBe(true)
  })

  it("counts a replica that only replaced the call's own tombstone as not having told", () => {
    const r = new DeleteReports()
    r.issue('5')
    r.issue('9')
    r.report('a', {version: '5', live: false})
    r.report('c', {live: false})
    expect(r.outcome(['a', 'c'], true)).toBeUndefined()
  })

  it('is undefined rather than false after a re-issue (a concurrent delete may have found the first attempt over the value)', () => {
    const r = new DeleteReports()
    r.issue('5')
    r.report('b', {version: '3', live: true})
    r.issue('9')
    r.report('a', {version: '7', live: false})
    r.report('b', {version: '7', live: false})
    expect(r.outcome(['a', 'b'], true)).toBeUndefined()
  })
})
