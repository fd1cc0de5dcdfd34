import {describe, expect, it} from 'vitest'
import {strayKeysRefusal} from '../../src/redis/targetStrayKeys.js'

const base = {move: 'm1', slot: 7, source: {node: 'src'}, target: {node: 'dst', address: '127.0.0.1:7001'}}

describe('strayKeysRefusal: keys on a target before its source migrates the slot', () => {
  it('refuses keys on the target of a slot the source is not migrating, naming them and the way out', () => {
    const err = strayKeysRefusal({...base, targetKeys: 3, sourceMigrating: false})
    expect(err?.code).toBe('PRECONDITION')
    expect(err?.message).toBe("move m1: dst holds 3 key(s) of slot 7, which src serves and is not migrating: most likely copies dst loaded from a snapshot taken while it owned the slot, which moving the slot there would bring back over src's (deleted or rewritten since); nothing of the slot was migrated")
    expect(err?.hint).toContain('CLUSTER SETSLOT 7 STABLE, then `shardctl apply --resume`')
  })
  it('lets the move go on with no key on the target, or with the slot open (the move\'s own keys)', () => {
    expect(strayKeysRefusal({...base, targetKeys: 0, sourceMigrating: false})).toBeUndefined()
    expect(strayKeysRefusal({...base, targetKeys: 3, sourceMigrating: true})).toBeUndefined()
  })
})
