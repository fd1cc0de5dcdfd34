import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {formatHlc} from '../../src/model/hlc.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {resolveRead} from '../../src/router/readResolution.js'

const rec = (wall: number, value: string | null, writer = 'r1'): NodeRecord => ({key: Buffer.from('k'), version: formatHlc({wall, counter: 0, writer}), value: value === null ? null : Buffer.from(value)})

describe('resolveRead', () => {
  it('returns the newest record and names older and empty replicas as stale', () => {
    const r = resolveRead([
      {node: 'a', record: rec(1, 'old')},
      {node: 'b', record: rec(2, 'new')},
      {node: 'c', record: undefined},
    ])
    expect(r.newest?.value?.toString()).toBe('new')
    expect(r.stale.sort()).toEqual(['a', 'c'])
  })

  it('a newer tombstone wins over an older value (a delete is a read of "absent")', () => {
    const r = resolveRead([
      {node: 'a', record: rec(5, null)},
      {node: 'b', record: rec(4, 'v')},
    ])
    expect(r.newest?.value).toBeNull()
    expect(r.stale).toEqual(['b'])
  })

  it('nothing anywhere: no record, nothing to repair', () => {
    expect(resolveRead([{node: 'a', record: undefined}])).toEqual({newest: undefined, stale: []})
  })

  it('does not depend on the order of answers', () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.tuple(fc.integer({min: 1, max: 5}), fc.constantFrom('x', 'y', null)), {nil: undefined}), {minLength: 1, maxLength: 5}), (specs) => {
        const answers = specs.map((s, i) => ({node: `n${i}`, record: s === undefined ? undefined : rec(s[0], s[1])}))
        const a = resolveRead(answers)
        const b = resolveRead([...answers].reverse())
        expect(b.newest?.version).toBe(a.newest?.version)
        expect(b.newest?.value === null).toBe(a.newest?.value === null)
        expect([...b.stale].sort()).toEqual([...a.stale].sort())
      }),
    )
  })
})
