import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {MAX_KEY_BYTES} from '../../src/node/protocol.js'
import {decodeKeyPath, encodeKeyPath} from '../../src/router/keyPath.js'

describe('keyPath', () => {
  it('round-trips any binary key through encode and decode', () => {
    fc.assert(
      fc.property(fc.uint8Array({minLength: 1, maxLength: 200}), (bytes) => {
        const r = decodeKeyPath(encodeKeyPath(Buffer.from(bytes)))
        expect(r.ok && r.key.equals(Buffer.from(bytes))).toBe(true)
      }),
    )
  })

  it('decodes what encodeURIComponent produces for UTF-8 keys; + stays a plus', () => {
    const r = decodeKeyPath(encodeURIComponent('ключ/ü 1'))
    expect(r.ok && r.key.toString('utf8')).toBe('ключ/ü 1')
    const plus = decodeKeyPath('a+b')
    expect(plus.ok && plus.key.toString()).toBe('a+b')
  })

  it('refuses empty keys and malformed escapes (BAD_INPUT) and oversize keys (TOO_LARGE)', () => {
    expect(decodeKeyPath('')).toMatchObject({ok: false, code: 'BAD_INPUT'})
    expect(decodeKeyPath('a%2')).toMatchObject({ok: false, code: 'BAD_INPUT'})
    expect(decodeKeyPath('%zz')).toMatchObject({ok: false, code: 'BAD_INPUT'})
    expect(decodeKeyPath('k'.repeat(MAX_KEY_BYTES + 1))).toMatchObject({ok: false, code: 'TOO_LARGE'})
    expect(decodeKeyPath('k'.repeat(MAX_KEY_BYTES)).ok).toBe(true)
  })
})
