import {describe, expect, it} from 'vitest'
import {parseClusterNodes} from '../../src/redis/clusterNodes.js'
import {failedTargetReplaced, resolveOpenSlotSides} from '../../src/redis/openSlotSides.js'

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

  it('leaves no target when a failed target was replaced and no live master kept a key: the source alone rolls back', () => {
    expect(resolveOpenSlotSides({source: 'S', target: 'T', masters: [{id: 'S', owns: true, keys: 80}, {id: 'U', owns: false, keys: 0}], targetReplaced: true})).toEqual({source: 'S', target: null})
  })

  it('refuses to roll back on the source alone while the failed target is not shown replaced (merely down: it holds the migrated keys)', () => {
    expect(resolveOpenSlotSides({source: 'S', target: 'T', masters: [{id: 'S', owns: true, keys: 80}, {id: 'U', owns: false, keys: 0}], targetReplaced: false})).toBeUndefined()
    expect(resolveOpenSlotSides({source: 'S', target: 'T', masters: [{id: 'S', owns: true, keys: 80}, {id: 'U', owns: false, keys: 0}]})).toBeUndefined()
  })

  it('refuses a failed target whose successor serves the slot too (two owners)', () => {
    expect(resolveOpenSlotSides({source: 'S', target: 'T', masters: [{id: 'S', owns: true, keys: 80}, {id: 'T2', owns: true, keys: 120}], targetReplaced: true})).toBeUndefined()
  })

  it('refuses when no live master fits, or more than one does', () => {
    expect(resolveOpenSlotSides({source: 'S', target: 'T', masters: [{id: 'U', owns: false, keys: 0}]})).toBeUndefined()
    expect(resolveOpenSlotSides({source: 'S', target: 'T', masters: [{id: 'T', owns: false, keys: 1}, {id: 'A', owns: true, keys: 0}, {id: 'B', owns: true, keys: 0}]})).toBeUndefined()
    expect(resolveOpenSlotSides({source: 'S', target: 'T', masters: [{id: 'S', owns: true, keys: 1}, {id: 'A', owns: false, keys: 1}, {id: 'B', owns: false, keys: 1}]})).toBeUndefined()
  })
})

describe('failedTargetReplaced', () => {
  const T = 'b'.repeat(40)
  const S = 'a'.repeat(40)
  const R = 'c'.repeat(40)
  const line = (id: string, flags: string, master: string, epoch: number, slots: string) => `${id} 127.0.0.1:7000@17000 ${flags} ${master} 0 0 ${epoch} connected${slots ? ' ' + slots : ''}`
  const view = (...lines: string[]) => parseClusterNodes(lines.join('\n'))
  it('is true when a live master lists the failed node as a replica (it rejoined under its successor)', () => {
    expect(failedTargetReplaced(T, [view(line(S, 'myself,master', '-', 1, '0-100'), line(T, 'slave', R, 2, ''), line(R, 'master', '-', 4, '101-200'))])).toBe(true)
  })
  it('is true when a live master took its slots: it serves none and no replica of it is left, having served slots once (epoch > 0)', () => {
    expect(failedTargetReplaced(T, [view(line(S, 'myself,master', '-', 1, '0-100'), line(T, 'master,fail', '-', 2, ''), line(R, 'master', '-', 4, '101-200'))])).toBe(true)
  })
  it('is false while it still serves slots (no replica, or the election still running) or a replica of it is left', () => {
    expect(failedTargetReplaced(T, [view(line(S, 'myself,master', '-', 1, '0-100'), line(T, 'master,fail', '-', 2, '101-200'))])).toBe(false)
    expect(failedTargetReplaced(T, [view(line(S, 'myself,master', '-', 1, '0-100'), line(T, 'master,fail', '-', 2, ''), line(R, 'slave', T, 2, ''))])).toBe(false)
  })
  it('is false for a master that never served a slot (epoch 0: Redis never fails one over) or that no view lists', () => {
    expect(failedTargetReplaced(T, [view(line(S, 'myself,master', '-', 1, '0-100'), line(T, 'master,fail', '-', 0, ''))])).toBe(false)
    expect(failedTargetReplaced(T, [view(line(S, 'myself,master', '-', 1, '0-100'))])).toBe(false)
  })
})
