import {describe, expect, it} from 'vitest'
import {parsePhaseFault} from '../../src/executor/phaseFault.js'

describe('parsePhaseFault (SHARDCTL_TEST_PHASE_FAULT)', () => {
  it('reads <before|after>:<phase>:<kill|stop>, and nothing when unset', () => {
    expect(parsePhaseFault(undefined)).toBeUndefined()
    expect(parsePhaseFault('')).toBeUndefined()
    expect(parsePhaseFault('after:promoting:kill')).toEqual({when: 'after', phase: 'promoting', action: 'kill'})
    expect(parsePhaseFault('before:rb-joining:stop')).toEqual({when: 'before', phase: 'rb-joining', action: 'stop'})
  })

  it.each(['after:promotin:kill', 'during:copying:kill', 'after:copying:pause', 'after:copying', 'after:copying:kill:now'])('refuses %s naming the expected form (a typo must not test nothing)', (text) => {
    expect(() => parsePhaseFault(text)).toThrow(/is not <before\|after>:<phase>:<kill\|stop>/)
  })
})
