import {describe, expect, it} from 'vitest'
import {heldKey, sourceRestartedSince, staleCopiesRefusal, uncheckedHold} from '../../src/redis/sourceRestart.js'

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

describe('uncheckedHold', () => {
  const base = {move: 'm1', slot: 208, source: {node: 'src', address: '127.0.0.1:7000'}, target: {node: 'dst'}, at: '2026-12-05T00:00:00.000Z'}
  it('lets the slot go on when no key is on both sides, or once its warning was acknowledged (the operator keeps the source\'s copies)', () => {
    expect(uncheckedHold({...base, both: [], acknowledged: false})).toEqual({kind: 'go'})
    expect(uncheckedHold({...base, both: ['k1'], acknowledged: true})).toEqual({kind: 'go'})
  })
  it('holds keys on both sides with a warning that reports no loss, keyed by source and slot, and a one-line error naming both ways out', () => {
    const v = uncheckedHold({...base, both: Array.from({length: 12}, (_, i) => `k${i}`), acknowledged: false})
    if (v.kind !== 'hold') throw new Error('expected a hold')
    expect(v.warning).toMatchObject({key: heldKey('src', 208), mayHaveLostData: false, node: 'src', at: base.at})
    expect(v.warning.key).toBe('held:src:208')
    expect(v.warning.text).toMatch(/^move m1: slot 208 is held open: src \(its source, 127\.0\.0\.1:7000\) and dst both hold 12 key\(s\) of it \(k0, .*k9 and 2 more\)/)
    expect(v.warning.text).toMatch(/Nothing is lost yet; keep dst's copies: DEL each listed key on 127\.0\.0\.1:7000, then `shardctl apply --resume`; keep src's: `shardctl moves ack m1`/)
    expect(v.error.code).toBe('PRECONDITION')
    expect(v.error.message).not.toMatch(/\n/)
    expect(v.error.hint).toMatch(/`shardctl moves ack m1`, then `shardctl apply --resume` migrates them with REPLACE/)
  })
})
