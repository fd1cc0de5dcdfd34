import {resolve} from 'node:path'
import {Config, run} from '@oclif/core'
import {describe, expect, it, vi} from 'vitest'
import {topLevelUsageError} from '../../src/cli/topLevelUsageError.js'

const root = resolve(import.meta.dirname, '../..')

/** thrownBy runs `argv` through oclif as bin/run.js does (output swallowed) and returns what it threw. */
async function thrownBy(config: Config, argv: string[]): Promise<unknown> {
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
  try {
    await run(argv, config)
  } catch (err) {
    return err
  } finally {
    out.mockRestore()
  }
  throw new Error(`${argv.join(' ')} ran without error`)
}

/**
 * What bin/run.js prints for an error a command lets through to it: oclif's plugin commands
 * (help, autocomplete) throw their parse errors there, which oclif printed as `›` lines with
 * the command's usage after them. Real oclif errors, from the commands themselves.
 */
describe('topLevelUsageError', () => {
  it('renders a plugin command\'s unknown flag, unexpected argument or invalid argument as one line naming it and the command\'s help, exit 2', async () => {
    const config = await Config.load({root})
    const cases: [string[], string][] = [
      [['help', '--zz-no-such-flag'], 'Error: Nonexistent flag: --zz-no-such-flag — see `shardctl help --help`'],
      [['autocomplete', '--zz-no-such-flag=1'], 'Error: Nonexistent flag: --zz-no-such-flag=1 — see `shardctl autocomplete --help`'],
      [['autocomplete', 'bash', 'extra'], 'Error: Unexpected argument: extra — see `shardctl autocomplete --help`'],
      [['autocomplete', 'fish'], 'Error: Expected fish to be one of: zsh, bash, powershell — see `shardctl autocomplete --help`'],
    ]
    for (const [argv, line] of cases) {
      const rendered = topLevelUsageError(await thrownBy(config, argv), argv)
      expect(rendered, argv.join(' ')).toMatchObject({line, exitCode: 2})
    }
  })

  it('leaves every other error to oclif\'s handler', async () => {
    const config = await Config.load({root})
    expect(topLevelUsageError(await thrownBy(config, ['help', 'zz-no-such-command']), ['help', 'zz-no-such-command'])).toBeUndefined()
    expect(topLevelUsageError(new Error('boom'), ['autocomplete'])).toBeUndefined()
    expect(topLevelUsageError(Object.assign(new Error('exit'), {code: 'EEXIT', oclif: {exit: 2}}), ['plan', 'schema'])).toBeUndefined()
    expect(topLevelUsageError(undefined, [])).toBeUndefined()
  })
})
