import {describe, expect, it} from 'vitest'
import {commandListOf, unknownCommandError} from '../../src/cli/unknownCommand.js'

const LIST = commandListOf({bin: 'shardctl', commands: [{id: 'moves:show'}, {id: 'moves:list'}, {id: 'moves:resume'}, {id: 'node:drain'}, {id: 'cluster:status'}, {id: 'plan'}, {id: 'plan:show'}, {id: 'plan:verify'}, {id: 'secret:thing', hidden: true}]})

describe('unknownCommandError', () => {
  it('names what was typed, in words, and the closest visible command with its help, exit 2', () => {
    expect(unknownCommandError('moves:shw', LIST)).toMatchObject({
      line: 'Error: `shardctl moves shw` is not a shardctl command — did you mean `shardctl moves show`? See `shardctl moves show --help`',
      exitCode: 2,
      json: {error: {code: 'BAD_INPUT', exitCode: 2}},
    })
  })

  it('points at the command list when nothing is close, and never suggests a hidden command', () => {
    expect(unknownCommandError('zzzzzzzzzz', LIST).line).toBe('Error: `shardctl zzzzzzzzzz` is not a shardctl command — see `shardctl --help` for the commands')
    expect(unknownCommandError('secret:thin', LIST).line).not.toMatch(/secret thing/)
  })

  it('reads words after a command that takes no arguments as unexpected arguments of it, as its own parser says them (they were "`shardctl cluster status extra` is not a shardctl command — did you mean `shardctl cluster status`?")', () => {
    expect(unknownCommandError('cluster:status:extra', LIST)).toMatchObject({line: 'Error: Unexpected argument: extra — see `shardctl cluster status --help`', exitCode: 2, json: {error: {code: 'USAGE'}}})
    expect(unknownCommandError('moves:resume:m1:m2', LIST).line).toBe('Error: Unexpected arguments: m1, m2 — see `shardctl moves resume --help`')
    expect(unknownCommandError('plan:compute', LIST).line).toBe('Error: Unexpected argument: compute — see `shardctl plan --help`')
  })

  it('still reads a mistyped subcommand of a command as a typo, not as an argument', () => {
    expect(unknownCommandError('plan:shw', LIST).line).toBe('Error: `shardctl plan shw` is not a shardctl command — did you mean `shardctl plan show`? See `shardctl plan show --help`')
    expect(unknownCommandError('plan:veriyf:x', LIST).line).toMatch(/did you mean `shardctl plan verify`/)
  })

  it('suggests a topic as a command is suggested (`nod` said "did you mean `shardctl top`?": topics were no candidates), and never a hidden one', () => {
    const list = commandListOf({bin: 'shardctl', commands: [{id: 'top'}, {id: 'node:drain'}, {id: 'node:list'}], topics: [{name: 'node'}, {name: 'secret', hidden: true}]})
    expect(unknownCommandError('nod', list).line).toBe('Error: `shardctl nod` is not a shardctl command — did you mean `shardctl node`? See `shardctl node --help`')
    expect(unknownCommandError('secrt', list).line).not.toMatch(/secret/)
    expect(unknownCommandError('node:dran', list).line).toMatch(/did you mean `shardctl node drain`\?/)
  })
})
