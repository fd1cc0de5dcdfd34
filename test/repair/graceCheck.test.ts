import {describe, expect, it} from 'vitest'
import {graceRefusal} from '../../src/repair/graceCheck.js'

describe('graceRefusal', () => {
  it('Given every node publishing one grace, Then nothing is refused', () => {
    expect(graceRefusal(new Map([['n1', 3_600_000], ['n2', 3_600_000]]))).toBeUndefined()
    expect(graceRefusal(new Map())).toBeUndefined()
  })

  it('Given different graces, Then the reason groups the nodes by grace, shortest first', () => {
    expect(graceRefusal(new Map([['n3', 7_200_000], ['n1', 3_600_000], ['n2', 3_600_000]]))).toBe(
      'nodes serve different --tombstone-grace (n1, n2: 3600000 ms; n3: 7200000 ms): tombstones are kept until every node is restarted with the same --tombstone-grace',
    )
  })

  it('Given nodes publishing no grace, Then they are named as unknown, whatever the others publish', () => {
    expect(graceRefusal(new Map([['n2', undefined], ['n1', 5], ['n3', undefined]]))).toBe('nodes n2, n3 publish no --tombstone-grace (an older build): tombstones are kept until every node runs a build that publishes it')
  })
})
