import {describe, expect, it} from 'vitest'
import {sourceAbandonText} from '../../src/executor/sourceAbandonText.js'

describe('sourceAbandonText (moves show)', () => {
  const base = {from: 'n1', to: 'n4'}

  it('says nothing of a move whose source was not abandoned', () => {
    expect(sourceAbandonText(base)).toBeUndefined()
  })

  it('says a request was not needed so far', () => {
    expect(sourceAbandonText({...base, abandonSourceRequested: 'T1'})).toBe('source abandoned by the operator at T1 (--accept-data-loss): a refill of n4 goes on without n1 while n1 holds no lease; not needed so far')
  })

  it('names what was refilled from and what was lost', () => {
    expect(sourceAbandonText({...base, abandonSourceRequested: 'T1', sourceAbandoned: {at: 'T2', destinationDir: 'd/i', refilledFrom: []}})).toBe(
      "source abandoned: went on without n1 at T2: n4 (dir d/i) kept what it held (no other copy to refill it from); records only n1's copy held are lost",
    )
    expect(sourceAbandonText({...base, sourceAbandoned: {at: 'T2', destinationDir: null, refilledFrom: ['n2', 'n3']}})).toContain('(refilled from n2, n3)')
  })

  it('says when the source came back before its copy was dropped', () => {
    expect(sourceAbandonText({...base, sourceAbandoned: {at: 'T2', destinationDir: 'd/i', refilledFrom: [], sourceRefillAt: 'T3'}})).toContain('n1 came back before its copy was dropped and n4 was refilled from it at T3')
  })
})
