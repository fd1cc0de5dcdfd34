import {describe, expect, it} from 'vitest'
import {commandListOf, unknownCommandError} from '../../src/cli/unknownCommand.js'

const LIST = commandListOf({bin: 'shardctl', commands: [{id: 'moves:show'}, {id: 'moves:list'}, {id: 'node:drain'}, {id: 'secret:thing', hidden: true}]})

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
})
