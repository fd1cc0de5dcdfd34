import {type Hook} from '@oclif/core'
import {commandListOf, unknownCommandError} from '../unknownCommand.js'

/**
 * commandNotFound is the `command_not_found` hook: a mistyped command gets one line on
 * stderr naming it and the closest real command, and exits 2 (a usage error, like a bad
 * flag). It never asks a question, so scripts and CI fail fast instead of waiting.
 */
const commandNotFound: Hook<'command_not_found'> = async function (opts) {
  const {line, exitCode} = unknownCommandError(opts.id, commandListOf(this.config))
  process.stderr.write(`${line}\n`)
  this.exit(exitCode)
}

export default commandNotFound
