import {PassThrough} from 'node:stream'
import {describe, expect, it} from 'vitest'
import {askYesNo, needsQuestion} from '../../src/cli/confirmation.js'
import {isUserError} from '../../src/errors/errors.js'
import {errorOf} from '../support/errorOf.js'


describe('needsQuestion', () => {
  it('does not ask with --yes, whatever the streams', () => {
    expect(needsQuestion(true, {stdin: false, stderr: false}, 'run moves')).toBe(false)
    expect(needsQuestion(true, {stdin: true, stderr: true}, 'run moves')).toBe(false)
  })

  it('asks when the question can be seen on stderr and answered on stdin', () => {
    expect(needsQuestion(false, {stdin: true, stderr: true}, 'run moves')).toBe(true)
  })

  it('refuses with a usage error (exit 2) naming --yes when stdin is not a terminal', () => {
    const err = errorOf(() => needsQuestion(false, {stdin: false, stderr: true}, 'run moves'))
    expect(isUserError(err, 'BAD_INPUT')).toBe(true)
    expect((err as Error).message).toMatch(/stdin is not a terminal/)
    expect((err as Error & {hint?: string}).hint).toMatch(/--yes/)
  })

  it('refuses when stderr is redirected, since the question could not be seen', () => {
    const err = errorOf(() => needsQuestion(false, {stdin: true, stderr: false}, 'run moves'))
    expect(isUserError(err, 'BAD_INPUT')).toBe(true)
    expect((err as Error).message).toMatch(/stderr is not a terminal/)
  })
})

describe('askYesNo', () => {
  async function ask(answer: string | null): Promise<{result: boolean; shown: string}> {
    const input = new PassThrough()
    const output = new PassThrough()
    let shown = ''
    output.on('data', (d) => (shown += d))
    const pending = askYesNo('Apply these actions?', {input, output})
    if (answer === null) input.end()
    else input.write(answer)
    return {result: await pending, shown}
  }

  it('writes the question to the stream it was given', async () => {
    expect((await ask('y\n')).shown).toContain('Apply these actions? [y/N] ')
  })

  it('is yes only for y or yes, in any case', async () => {
    expect((await ask('y\n')).result).toBe(true)
    expect((await ask('YES\n')).result).toBe(true)
    expect((await ask('n\n')).result).toBe(false)
    expect((await ask('\n')).result).toBe(false)
    expect((await ask('yep\n')).result).toBe(false)
  })

  it('takes end of input as no instead of waiting forever', async () => {
    expect((await ask(null)).result).toBe(false)
  })
})
