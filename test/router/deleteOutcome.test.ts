import {describe, expect, it} from 'vitest'
import {deleteRemovedValue} from '../../src/router/deleteOutcome.js'

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
