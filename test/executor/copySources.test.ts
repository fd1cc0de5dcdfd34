import {describe, expect, it} from 'vitest'
import {chooseCopySources} from '../../src/executor/copySources.js'

const base = {shard: 3, from: 'a', to: 'd', oldSet: ['a', 'b', 'c']}

describe('chooseCopySources', () => {
  it('copies from the source whenever it is up, whatever w is', () => {
    expect(chooseCopySources({...base, alive: new Set(['a', 'b', 'c', 'd']), routerW: [1]})).toEqual({kind: 'copy', sources: ['a']})
  })

  it('waits for a down source when any router may acknowledge with w = 1, naming why', () => {
    const d = chooseCopySources({...base, alive: new Set(['b', 'c', 'd']), routerW: [null, 1]})
    expect(d.kind).toBe('wait')
    expect(d.kind === 'wait' && d.reason).toMatch(/source a of shard 3 is down.*w = 1.*only a is sure/)
  })

  it('treats a router that does not publish its w (or an unreadable entry) as w = 1', () => {
    expect(chooseCopySources({...base, alive: new Set(['b', 'c', 'd']), routerW: [2, undefined]}).kind).toBe('wait')
  })

  it('with w = 2 of 3 copies from the other two old replicas when both are up', () => {
    expect(chooseCopySources({...base, alive: new Set(['b', 'c', 'd']), routerW: [null, 2]})).toEqual({kind: 'copy', sources: ['b', 'c']})
  })

  it('with w = 2 of 3 waits when a second old replica is down too: a write acked by {a, c} would be missed', () => {
    const d = chooseCopySources({...base, alive: new Set(['b', 'd']), routerW: [2]})
    expect(d.kind).toBe('wait')
    expect(d.kind === 'wait' && d.reason).toMatch(/a, c are down.*w = 2/)
  })

  it('with w = 3 of 5 tolerates one more old replica down besides the source', () => {
    const oldSet = ['a', 'b', 'c', 'e', 'f']
    expect(chooseCopySources({...base, oldSet, alive: new Set(['b', 'c', 'e']), routerW: [3]})).toEqual({kind: 'copy', sources: ['b', 'c', 'e']})
    expect(chooseCopySources({...base, oldSet, alive: new Set(['b', 'c']), routerW: [3]}).kind).toBe('wait')
  })

  it('never offers the destination as a source', () => {
    const d = chooseCopySources({...base, oldSet: ['a', 'b', 'c', 'd'], alive: new Set(['b', 'c', 'd']), routerW: [3]})
    expect(d).toEqual({kind: 'copy', sources: ['b', 'c']})
  })
})
