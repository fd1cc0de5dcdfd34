import {type Hook} from '@oclif/core'
import {EXIT_CODES} from '../../errors/codes.js'
import {suggestCommand} from '../commandSuggestion.js'

/**
 * commandNotFound is the `command_not_found` hook: a mistyped command gets one line on
 * stderr naming it and the closest real command, and exits 2 (a usage error, like a bad
 * flag). It never asks a question, so scripts and CI fail fast instead of waiting.
 */
const commandNotFound: Hook<'command_not_found'> = async function (opts) {
  const bin = this.config.bin
  const spaced = (id: string) => id.replaceAll(':', ' ')
  const ids = this.config.commands.filter((c) => !c.hidden).map((c) => c.id)
  const guess = suggestCommand(opts.id, ids)
  const hint = guess ? `did you mean \`${bin} ${spaced(guess)}\`? See \`${bin} ${spaced(guess)} --help\`` : `see \`${bin} --help\` for the commands`
  process.stderr.write(`Error: \`${bin} ${spaced(opts.id)}\` is not a ${bin} command — ${hint}\n`)
  this.exit(EXIT_CODES.BAD_INPUT)
}

export default commandNotFound
