import {describe, expect, it} from 'vitest'
import {resolveOpenSlotSides} from '../../src/redis/openSlotSides.js'

describe('resolveOpenSlotSides', () => {
  it('keeps both sides when both are live masters', () => {
    expect(resolveOpenSlotSides({source: 'S', target: 'T', masters: [{id: 'S', owns: true, keys: 3}, {id: 'T', owns: false, keys: 2}]})).toEqual({source: 'S', target: 'T'})
  })

  it('replaces a failed source by the live master that serves the slot by its own view (not the target, whose view is frozen)', () => {
    expect(resolveOpenSlotSides({source: 'S', target: 'T', masters: [{id: 'S2', owns: true, keys: 80}, {id: 'T', owns: false, keys: 120}, {id: 'U', owns: false, keys: 0}]})).toEqual({source: 'S2', target: 'T'})
  })

  it('replaces a failed target by the live master that holds keys of the slot without serving it', () => {
    expect(resolveOpenSlotSides({source: 'S', target: 'T', masters: [{id: 'S', owns: true, keys: 80}, {id: 'T2', owns: false, keys: 120}, {id: 'U', owns: false, keys: 0}]})).toEqual({source: 'S', target: 'T2'})
  })

  it('leaves no target when a failed target kept no key anywhere: the source alone rolls back', () => {
    expect(resolveOpenSlotSides({source: 'S', target: 'T', masters: [{id: 'S', owns: true, keys: 80}, {id: 'U', owns: false, keys: 0}]})).toEqual({source: 'S', target: null})
  })

  it('refuses when no live master fits, or more than one does', () => {
    expect(resolveOpenSlotSides({source: 'S', target: 'T', masters: [{id: 'U', owns: false, keys: 0}]})).toBeUndefined()
    expect(resolveOpenSlotSides({source: 'S', target: 'T', masters: [{id: 'T', owns: false, keys: 1}, {id: 'A', owns: true, keys: 0}, {id: 'B', owns: true, keys: 0}]})).toBeUndefined()
    expect(resolveOpenSlotSides({source: 'S', target: 'T', masters: [{id: 'S', owns: true, keys: 1}, {id: 'A', owns: false, keys: 1}, {id: 'B', owns: false, keys: 1}]})).toBeUndefined()
  })
})
