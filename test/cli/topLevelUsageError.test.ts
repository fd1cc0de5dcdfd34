import {resolve} from 'node:path'
import {Config, run} from '@oclif/core'
import {describe, expect, it, vi} from 'vitest'
import {topLevelError, topLevelUsageError, unknownHelpSubject} from '../../src/cli/topLevelUsageError.js'

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
    expect(await topLevelError(new Error('boom'), ['autocomplete'], () => Config.load({root}))).toBeUndefined()
    expect(topLevelUsageError(new Error('boom'), ['autocomplete'])).toBeUndefined()
    expect(topLevelUsageError(Object.assign(new Error('exit'), {code: 'EEXIT', oclif: {exit: 2}}), ['plan', 'schema'])).toBeUndefined()
    expect(topLevelUsageError(undefined, [])).toBeUndefined()
  })
})

/**
 * Help about a command that does not exist (`help nosuch`, `nosuch --help`): oclif's help threw
 * `Command nosuch not found.`, which bin/run.js let oclif print as a `›` line; it is now the
 * line `shardctl nosuch` prints (the command_not_found hook's), exit 2.
 */
describe('topLevelError: help about an unknown command', () => {
  it('reads the command id from the error oclif\'s real help throws, for `help ID...` and for `ID --help`, and from nothing else', async () => {
    const config = await Config.load({root})
    expect(unknownHelpSubject(await thrownBy(config, ['help', 'nosuch']))).toBe('nosuch')
    expect(unknownHelpSubject(await thrownBy(config, ['help', 'moves', 'shw']))).toBe('moves:shw')
    expect(unknownHelpSubject(await thrownBy(config, ['moves', 'shw', '--help']))).toBe('moves:shw')
    expect(unknownHelpSubject(await thrownBy(config, ['help', '--zz-no-such-flag']))).toBeUndefined()
    expect(unknownHelpSubject(new Error('Command nosuch not found.'))).toBeUndefined() // no oclif exit 2: not oclif's help
    expect(unknownHelpSubject(undefined)).toBeUndefined()
  })

  it('renders it as `shardctl nosuch` is rendered: one line naming it and the closest command (or the command list), exit 2; the config is loaded only then', async () => {
    const config = await Config.load({root})
    let loads = 0
    const load = async () => {
      loads++
      return config
    }
    for (const [argv, line] of [
      [['help', 'nosuch'], 'Error: `shardctl nosuch` is not a shardctl command — see `shardctl --help` for the commands'],
      [['help', 'moves', 'shw'], 'Error: `shardctl moves shw` is not a shardctl command — did you mean `shardctl moves show`? See `shardctl moves show --help`'],
      [['moves', 'shw', '-h'], 'Error: `shardctl moves shw` is not a shardctl command — did you mean `shardctl moves show`? See `shardctl moves show --help`'],
    ] as const) {
      expect(await topLevelError(await thrownBy(config, [...argv]), argv, load), argv.join(' ')).toMatchObject({line, exitCode: 2})
    }
    expect(loads).toBe(3)
    const parse = await topLevelError(await thrownBy(config, ['help', '--zz-no-such-flag']), ['help', '--zz-no-such-flag'], load)
    expect(parse).toMatchObject({line: 'Error: Nonexistent flag: --zz-no-such-flag — see `shardctl help --help`', exitCode: 2})
    expect(loads).toBe(3)
  })
})
