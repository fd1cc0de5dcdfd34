import {describe, expect, it} from 'vitest'
import {keySlot, tagForSlot} from '../../src/redis/keySlot.js'

describe('keySlot (CRC16 mod 16384, as CLUSTER KEYSLOT)', () => {
  it('matches values Redis documents and returns', () => {
    // CRC16/XMODEM check value of "123456789" is 0x31C3 (Redis cluster spec).
    expect(keySlot('123456789')).toBe(0x31c3)
    // Values redis-server 7.0 returned for CLUSTER KEYSLOT on this machine.
    expect(keySlot('foo')).toBe(12182)
    expect(keySlot('bar')).toBe(5061)
    expect(keySlot('somekey')).toBe(11058)
    expect(keySlot('foo{}{bar}')).toBe(8363)
    expect(keySlot('foo{{bar}}zap')).toBe(4015)
  })

  it('hashes only a non-empty hash tag, the first {...} of the key', () => {
    expect(keySlot('{user1000}.following')).toBe(keySlot('user1000'))
    expect(keySlot('{user1000}.followers')).toBe(keySlot('user1000'))
    expect(keySlot('foo{}{bar}')).not.toBe(keySlot('bar'))
    expect(keySlot('foo{{bar}}zap')).toBe(keySlot('{bar'))
    expect(keySlot('foo{bar}{zap}')).toBe(keySlot('bar'))
  })

  it('finds a tag for any slot', () => {
    for (const slot of [0, 1, 7300, 16383]) expect(keySlot(`{${tagForSlot(slot)}}:x`)).toBe(slot)
    expect(() => tagForSlot(16384)).toThrow(RangeError)
  })
})
