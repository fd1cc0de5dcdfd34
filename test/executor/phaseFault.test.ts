import {describe, expect, it} from 'vitest'
import {tmpdir} from 'node:os'
import {resolveCommandConnection} from '../../src/cli/baseCommand.js'
import {UserError} from '../../src/errors/errors.js'
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

describe('a malformed SHARDCTL_TEST_PHASE_FAULT is bad input', () => {
  // It was a plain Error thrown while phaseFault.ts loaded: oclif printed it as a wrapped block with exit 1.
  it('Given a typo, Then parsePhaseFault throws UserError(BAD_INPUT) with a one-line message and a fix', () => {
    let err: unknown
    try {
      parsePhaseFault('after:promotin:kill')
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(UserError)
    expect(err).toMatchObject({code: 'BAD_INPUT', message: expect.stringMatching(/^SHARDCTL_TEST_PHASE_FAULT: "after:promotin:kill" is not <before\|after>:<phase>:<kill\|stop> \(phases: [^\n]*\)$/), hint: expect.stringContaining('SHARDCTL_TEST_PHASE_FAULT=after:copying:kill')})
  })

  it('Given a typo, Then every etcd command refuses it before it connects (resolveCommandConnection)', () => {
    expect(() => resolveCommandConnection({endpoints: 'http://127.0.0.1:1'}, tmpdir(), {SHARDCTL_TEST_PHASE_FAULT: 'during:copying:kill'}, tmpdir())).toThrow(expect.objectContaining({code: 'BAD_INPUT'}))
    expect(() => resolveCommandConnection({endpoints: 'http://127.0.0.1:1'}, tmpdir(), {SHARDCTL_TEST_PHASE_FAULT: 'after:copying:kill'}, tmpdir())).not.toThrow()
  })
})
