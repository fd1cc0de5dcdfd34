import {DEFAULT_REDIS_MOVE_OPTIONS} from '../../src/redis/redisMoveRunner.js'
import {readdirSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {type Command, Config, Parser} from '@oclif/core'
import {describe, expect, it, vi} from 'vitest'
import Apply from '../../commands/apply.js'
import KvDel from '../../commands/kv/del.js'
import KvGet from '../../commands/kv/get.js'
import KvPut from '../../commands/kv/put.js'
import Stats from '../../commands/stats.js'
import NodeDrain from '../../commands/node/drain.js'
import {EXECUTOR_FLAGS, executorInput, redisMoveOptions} from '../../src/cli/executorFlags.js'
import {DEFAULT_EXECUTOR_OPTIONS} from '../../src/executor/executorEnv.js'
import {bytesFlag, capacityFlag, durationFlag, listenFlag, rateFlag, rateOrAutoFlag, shardIdArg, withDefault} from '../../src/cli/flags.js'
import {renderError} from '../../src/cli/renderError.js'
import {formatListen, parseDuration, parseListen} from '../../src/model/units.js'

const flags = {
  timeout: durationFlag({description: 't', ...withDefault('30s', parseDuration)}),
  ttl: durationFlag({description: 'ttl', min: 2000}),
  rate: rateFlag({description: 'r'}),
  throttle: rateOrAutoFlag({description: 'r'}),
  size: bytesFlag({description: 's'}),
  listen: listenFlag({description: 'l', env: 'TEST_SHARDCTL_LISTEN'}),
  capacity: capacityFlag({description: 'c'}),
}

const parse = async (argv: string[]) => (await Parser.parse(argv, {flags, strict: true})).flags

/** usageLine parses argv and returns the one line and exit code the CLI would print for its error. */
async function usageLine(argv: string[]): Promise<{line: string; exitCode: number}> {
  try {
    await parse(argv)
  } catch (err) {
    const r = renderError(err, 'test')
    return {line: r.line, exitCode: r.exitCode}
  }
  throw new Error(`${argv.join(' ')} parsed without error`)
}

describe('one parser per unit, applied at parse time', () => {
  it('reads a bare duration as seconds, the same for every duration flag', async () => {
    expect((await parse(['--timeout', '30'])).timeout).toBe(30_000)
    expect((await parse(['--ttl', '10'])).ttl).toBe(10_000)
    expect((await parse(['--timeout', '250ms'])).timeout).toBe(250)
    expect((await parse(['--timeout', '7d'])).timeout).toBe(7 * 86_400_000)
  })

  it('gives the default through the same parser', async () => {
    expect((await parse([])).timeout).toBe(30_000)
    expect((await parse([])).ttl).toBeUndefined()
  })

  it('parses rates, sizes, listen addresses and capacities into values', async () => {
    const f = await parse(['--rate', '64KiB/s', '--throttle', 'auto', '--size', '256KiB', '--listen', '[::1]:0', '--capacity', 'reads=5000,bytes=1GiB'])
    expect(f.rate).toBe(64 * 1024)
    expect(f.throttle).toBe('auto')
    expect(f.size).toBe(256 * 1024)
    expect(f.listen).toEqual({host: '::1', port: 0})
    expect(f.capacity).toMatchObject({reads: 5000, bytes: 2 ** 30})
    expect((await parse(['--throttle', '50MiB/s'])).throttle).toBe(50 * 2 ** 20)
  })

  it('turns every bad value into one line naming the flag, with exit 2', async () => {
    for (const argv of [['--timeout', '2x'], ['--ttl', '1s'], ['--rate', 'fast'], ['--throttle', 'automatic'], ['--size', '12 parsecs'], ['--listen', 'localhost'], ['--capacity', 'reads=-1']]) {
      const {line, exitCode} = await usageLine(argv)
      expect(exitCode, argv.join(' ')).toBe(2)
      expect(line, argv.join(' ')).not.toContain('\n')
      expect(line, argv.join(' ')).toContain(`${argv[0]}:`)
      expect(line).not.toMatch(/this is a bug/)
    }
    expect((await usageLine(['--ttl', '1s'])).line).toMatch(/shorter than the minimum 2s/)
  })

  it('parses a value from the flag environment variable, and refuses a bad one the same way', async () => {
    process.env.TEST_SHARDCTL_LISTEN = '127.0.0.1:7001'
    try {
      expect((await parse([])).listen).toEqual({host: '127.0.0.1', port: 7001})
      expect((await parse(['--listen', '127.0.0.1:7002'])).listen).toEqual({host: '127.0.0.1', port: 7002})
      process.env.TEST_SHARDCTL_LISTEN = 'nope'
      expect((await usageLine([])).exitCode).toBe(2)
    } finally {
      delete process.env.TEST_SHARDCTL_LISTEN
    }
  })
})

describe('shard id argument', () => {
  const parseId = async (argv: string[]) => (await Parser.parse(argv, {args: {id: shardIdArg({description: 'shard id', required: true})}, strict: true})).args.id

  it('Given a whole number, When parsed, Then it is the shard id', async () => {
    expect(await parseId(['0'])).toBe(0)
    expect(await parseId(['12'])).toBe(12)
    expect(Object.is(await parseId(['--', '-0']), 0)).toBe(true)
  })

  it('Given a negative whole number, When parsed, Then it passes as a number: the service refuses it naming the ids the cluster has, which the parser cannot read', async () => {
    expect(await parseId(['--', '-1'])).toBe(-1)
  })

  it('Given a word, a fraction or an overlong number, When parsed, Then one line names the argument and the form a shard id takes, with exit 2', async () => {
    for (const bad of ['abc', '1.5', '-1.5', '1e3', '99999999999999999999', '--1']) {
      const {line, exitCode} = renderError(await parseId(['--', bad]).then(() => undefined, (e: unknown) => e), 'shard:show')
      expect(exitCode, bad).toBe(2)
      expect(line, bad).toBe(`Error: argument ID: a shard id is a whole number, 0 or more (shards are numbered from 0); got "${bad}" — list the shard ids with \`shardctl shard list\``)
    }
  })
})

describe('--throttle auto flags of the commands that run moves', () => {
  const parseExecutor = async (argv: string[]) => (await Parser.parse(argv, {flags: EXECUTOR_FLAGS, strict: true})).flags

  const inputOf = async (argv: string[]) => executorInput(await parseExecutor(['--yes', ...argv]), 'test', async () => true, {stdin: false, stderr: false})

  it('reads the target p99 as a duration or a factor of the p99 before the moves, 2x by default', async () => {
    expect((await parseExecutor(['--throttle', 'auto', '--max-client-p99', '40ms']))['max-client-p99']).toEqual({ms: 40})
    expect((await parseExecutor(['--throttle', 'auto', '--max-client-p99', '1.5x']))['max-client-p99']).toEqual({factor: 1.5})
    expect((await inputOf(['--throttle', 'auto'])).latencyFactor).toBe(2)
    expect((await inputOf(['--throttle', 'auto', '--max-client-p99', '1.5x'])).latencyFactor).toBe(1.5)
    const fixed = await inputOf(['--throttle', 'auto', '--max-client-p99', '40ms'])
    expect(fixed.latencyFactor).toBeUndefined()
    expect(fixed.adaptive).toBeDefined()
    expect((await inputOf([])).adaptive).toBeUndefined()
  })

  it('tells the executor whether the run was given a --throttle of its own (it then clears a rate an earlier `throttle set` left)', async () => {
    expect((await inputOf(['--throttle', '1MiB/s'])).throttleGiven).toBe(true)
    expect((await inputOf(['--throttle', 'auto'])).throttleGiven).toBe(true)
    expect((await inputOf([])).throttleGiven).toBe(false)
  })

  it('refuses a malformed --window with one line naming the flag and one example (it gave "e.g." twice)', async () => {
    let rendered: {line: string; exitCode: number} | undefined
    await inputOf(['--window', '01:00']).catch((err: unknown) => (rendered = renderError(err, 'test')))
    expect(rendered?.exitCode).toBe(2)
    expect(rendered?.line).toContain('--window: "01:00" is not a window; use HH:MM-HH:MM')
    expect(rendered?.line.match(/e\.g\./g)).toHaveLength(1)
  })

  it('refuses --max-client-p99 without --throttle auto (it would be ignored), with one line naming both flags and exit 2', async () => {
    for (const argv of [['--max-client-p99', '40ms'], ['--throttle', '20MiB/s', '--max-client-p99', '2x']]) {
      let rendered: {line: string; exitCode: number} | undefined
      await inputOf(argv).catch((err: unknown) => (rendered = renderError(err, 'test')))
      expect(rendered?.exitCode, argv.join(' ')).toBe(2)
      expect(rendered?.line).toContain('--max-client-p99 only steers --throttle auto')
      expect(rendered?.line).not.toContain('\n')
    }
  })

  it('refuses a target that is not a duration or a factor over 1x, or zero, with one line naming the flag and exit 2', async () => {
    for (const bad of ['fast', '0ms', '-5ms', '1x', '0.5x', 'x']) {
      let rendered: {line: string; exitCode: number} | undefined
      await parseExecutor(['--throttle', 'auto', '--max-client-p99', bad]).catch((err: unknown) => (rendered = renderError(err, 'test')))
      expect(rendered?.exitCode, bad).toBe(2)
      expect(rendered?.line, bad).toContain('--max-client-p99')
      expect(rendered?.line, bad).not.toContain('\n')
    }
  })
})

describe('--chunk-size of the commands that run moves', () => {
  const parseExecutor = async (argv: string[]) => (await Parser.parse(argv, {flags: EXECUTOR_FLAGS, strict: true})).flags

  it('takes 4KiB and more as given', async () => {
    expect((await parseExecutor(['--chunk-size', '4KiB']))['chunk-size']).toBe(4096)
    expect((await parseExecutor([]))['chunk-size']).toBe(4 * 2 ** 20)
  })

  it('refuses a size under 4KiB with one line naming the flag and the minimum, exit 2, instead of raising it silently', async () => {
    for (const bad of ['0', '1KiB', '4095']) {
      let rendered: {line: string; exitCode: number} | undefined
      await parseExecutor(['--chunk-size', bad]).catch((err: unknown) => (rendered = renderError(err, 'test')))
      expect(rendered?.exitCode, bad).toBe(2)
      expect(rendered?.line, bad).toContain(`--chunk-size: "${bad}" is smaller than the minimum 4KiB`)
      expect(rendered?.line, bad).not.toContain('\n')
    }
  })
})

describe('--rate-window of the commands that run moves', () => {
  const parseExecutor = async (argv: string[]) => (await Parser.parse(argv, {flags: EXECUTOR_FLAGS, strict: true})).flags
  const inputOf = async (argv: string[]) => executorInput(await parseExecutor(['--yes', ...argv]), 'test', async () => true, {stdin: false, stderr: false})

  it('reaches the executor as given, 5 s when not given (the rate window the copy meter had before the flag)', async () => {
    expect((await inputOf(['--rate-window', '2s'])).options.rateWindowMs).toBe(2000)
    expect((await inputOf(['--rate-window', '1s'])).options.rateWindowMs).toBe(1000)
    expect((await inputOf(['--rate-window', '30s'])).options.rateWindowMs).toBe(30_000)
    expect((await inputOf([])).options.rateWindowMs).toBe(5000)
    expect(DEFAULT_EXECUTOR_OPTIONS.rateWindowMs).toBe(5000)
  })

  it('refuses a window under 1s or over 30s with one line naming the flag and the bound, exit 2', async () => {
    for (const [bad, message] of [['999ms', 'is shorter than the minimum 1s'], ['0', 'is shorter than the minimum 1s'], ['31s', 'is longer than the maximum 30s'], ['soon', 'is not a duration']] as const) {
      let rendered: {line: string; exitCode: number} | undefined
      await parseExecutor(['--rate-window', bad]).catch((err: unknown) => (rendered = renderError(err, 'test')))
      expect(rendered?.exitCode, bad).toBe(2)
      expect(rendered?.line, bad).toContain(`--rate-window: "${bad}" ${message}`.trim())
      expect(rendered?.line, bad).not.toContain('\n')
    }
  })
})

describe('redis slot-migration flags of the commands that run moves', () => {
  it('node drain takes them as apply does (a redis drain refused for a big key said "pass --allow-big-keys", which drain did not know)', async () => {
    for (const command of [Apply, NodeDrain]) {
      const parsed = (await Parser.parse(['--allow-big-keys', '--keys-per-sec', '200', '--batch-keys', '10', '--big-key-limit', '1MiB'], {flags: command.flags, strict: true})).flags
      expect(redisMoveOptions(parsed as Parameters<typeof redisMoveOptions>[0]), command.id).toEqual({allowBigKeys: true, bigKeyBytes: 2 ** 20, keysPerSec: 200, keysPerBatch: 10})
    }
    const defaults = (await Parser.parse([], {flags: NodeDrain.flags, strict: true})).flags
    // Flags not given stay absent (a kv cluster refuses only what was given); the runner's defaults fill them.
    const none = redisMoveOptions(defaults as Parameters<typeof redisMoveOptions>[0])
    expect(none).toEqual({})
    expect({...DEFAULT_REDIS_MOVE_OPTIONS, ...none}).toMatchObject({allowBigKeys: false, bigKeyBytes: 8 * 2 ** 20, keysPerSec: null, keysPerBatch: 100})
  })
})

describe('listen addresses', () => {
  it('round-trip through format, IPv6 in brackets', () => {
    for (const s of ['127.0.0.1:7001', '[::1]:0', 'node-1.example:65535']) expect(formatListen(parseListen(s))).toBe(s)
    expect(() => parseListen('127.0.0.1:65536')).toThrow(/HOST:PORT/)
  })
})

describe('kv --router', () => {
  const kvCommands = [['kv:get', KvGet], ['kv:put', KvPut], ['kv:del', KvDel]] as const

  it('takes a host:port as given (IPv6 in brackets, a host name)', async () => {
    for (const [, command] of kvCommands) {
      for (const address of ['127.0.0.1:7100', '[::1]:7100', 'router-1.internal:7100']) {
        expect((await Parser.parse(['--router', address], {flags: command.flags, strict: true})).flags.router).toBe(address)
      }
    }
  })

  it('refuses a URL, a missing port or a port out of range with one line naming --router and exit 2 (it dialed them and said "did not answer", exit 17)', async () => {
    for (const [id, command] of kvCommands) {
      for (const bad of ['http://127.0.0.1:7100', '127.0.0.1', '127.0.0.1:99999', 'nothost']) {
        let rendered: ReturnType<typeof renderError> | undefined
        try {
          await Parser.parse(['--router', bad], {flags: command.flags, strict: true})
        } catch (err) {
          rendered = renderError(err, id)
        }
        expect(rendered?.exitCode, `${id} --router ${bad}`).toBe(2)
        expect(rendered?.line).toContain(`Error: --router: "${bad}" is not HOST:PORT`)
        expect(rendered?.line).not.toContain('\n')
      }
    }
  })
})

describe('stats --for / --count', () => {
  it('refuse to run without --watch, with one line naming --watch and exit 2 (they were ignored: one report, exit 0)', async () => {
    for (const argv of [['--for', '3s'], ['--count', '2']]) {
      let rendered: ReturnType<typeof renderError> | undefined
      try {
        await Parser.parse(argv, {flags: Stats.flags, strict: true})
      } catch (err) {
        rendered = renderError(err, 'stats')
      }
      expect(rendered?.exitCode, argv.join(' ')).toBe(2)
      expect(rendered?.line, argv.join(' ')).toContain('--watch')
      expect(rendered?.line).not.toContain('\n')
    }
  })

  it('are taken with --watch', async () => {
    const {flags} = await Parser.parse(['--watch', '--for', '3s', '--count', '2'], {flags: Stats.flags, strict: true})
    expect(flags).toMatchObject({watch: true, for: 3000, count: 2})
  })
})

describe('a flag or argument a command does not have', () => {
  const root = resolve(import.meta.dirname, '../..')
  /** CommandClass is a command's default export: a concrete Command. */
  type CommandClass = new (argv: string[], config: Config) => Command

  /**
   * runRefused runs command `Cmd` in this process with `argv` (nothing it has), catching what
   * it writes; a command that parses first refuses before connecting anywhere or writing anything.
   */
  async function runRefused(Cmd: CommandClass, id: string, argv: string[], config: Config): Promise<{exitCode: number; stdout: string; stderr: string}> {
    let stdout = ''
    let stderr = ''
    const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true))
    const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true))
    try {
      const cmd = new Cmd(argv, config)
      cmd.id = id
      await (cmd as unknown as {_run(): Promise<unknown>})._run()
      return {exitCode: 0, stdout, stderr}
    } catch (e) {
      return {exitCode: (e as {oclif?: {exit?: number}}).oclif?.exit ?? 1, stdout, stderr}
    } finally {
      out.mockRestore()
      err.mockRestore()
    }
  }

  it('is refused by every command with exit 2 and one line naming it, before the command runs (plan schema and snapshot schema printed their schema, exit 0)', async () => {
    const config = await Config.load({root})
    const files = readdirSync(join(root, 'commands'), {recursive: true, encoding: 'utf8'}).filter((f) => f.endsWith('.ts')).sort()
    expect(files.length).toBeGreaterThan(50)
    expect(files).toContain(join('plan', 'schema.ts'))
    const accepted: string[] = []
    for (const file of files) {
      const id = file.replace(/\.ts$/, '').replace(/(^|\/)index$/, '').replaceAll('/', ':')
      const Cmd = ((await import(join(root, 'commands', file))) as {default: CommandClass}).default
      for (const argv of [['--zz-no-such-flag'], ['--zz-no-such-flag=1']]) {
        const r = await runRefused(Cmd, id, argv, config)
        const ok = r.exitCode === 2 && r.stdout === '' && r.stderr.trim().split('\n').length === 1 && r.stderr.startsWith('Error: Nonexistent flag: --zz-no-such-flag')
        if (!ok) accepted.push(`${id} ${argv.join(' ')}: exit ${r.exitCode}, stdout ${JSON.stringify(r.stdout.slice(0, 60))}, stderr ${JSON.stringify(r.stderr.slice(0, 200))}`)
      }
    }
    expect(accepted, accepted.join('\n')).toEqual([])
  }, 120_000)

  it('an argument is refused by the commands that take none, as `plan schema extra` is', async () => {
    const config = await Config.load({root})
    for (const [id, file] of [['plan:schema', 'plan/schema.ts'], ['snapshot:schema', 'snapshot/schema.ts']] as const) {
      const Cmd = ((await import(join(root, 'commands', file))) as {default: CommandClass}).default
      const r = await runRefused(Cmd, id, ['extra'], config)
      expect(r.exitCode, id).toBe(2)
      expect(r.stdout, id).toBe('')
      expect(r.stderr.trim(), id).toBe(`Error: Unexpected argument: extra — see \`shardctl ${id.replace(':', ' ')} --help\``)
    }
  })
})
