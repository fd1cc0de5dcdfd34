import {describe, expect, it} from 'vitest'
import {sourceRestartedSince, staleCopiesRefusal} from '../../src/redis/sourceRestart.js'

describe('sourceRestartedSince', () => {
  it('is true only for a recorded run_id that differs from the one now (a cursor from before run ids were recorded checks nothing)', () => {
    expect(sourceRestartedSince('a1', 'b2')).toBe(true)
    expect(sourceRestartedSince('a1', 'a1')).toBe(false)
    expect(sourceRestartedSince(undefined, 'a1')).toBe(false)
  })
})

describe('staleCopiesRefusal', () => {
  const base = {move: 'm1', slot: 208, source: {node: 'src', address: '127.0.0.1:7000'}, target: {node: 'dst'}}
  it('lets the slot go on when no key is on both sides (the source holds only keys it had not migrated, or none)', () => {
    expect(staleCopiesRefusal({...base, both: []})).toBeUndefined()
  })
  it('refuses keys on both sides with one line naming them, the slot and both ways out', () => {
    const err = staleCopiesRefusal({...base, both: Array.from({length: 12}, (_, i) => `k${i}`)})!
    expect(err.code).toBe('PRECONDITION')
    expect(err.message).toMatch(/^move m1: src restarted while slot 208 was open and holds 12 key\(s\) dst holds too \(k0, .*k9 and 2 more\)/)
    expect(err.message).not.toMatch(/\n/)
    expect(err.hint).toMatch(/DEL each listed key on 127\.0\.0\.1:7000, then `shardctl apply --resume`/)
    expect(err.hint).toMatch(/redis fix --yes --replace/)
  })
})
