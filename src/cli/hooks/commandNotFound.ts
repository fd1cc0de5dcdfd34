import {type Hook} from '@oclif/core'
import {jsonRequested} from '../jsonRequested.js'
import {commandListOf, unknownCommandError} from '../unknownCommand.js'

/**
 * commandNotFound is the `command_not_found` hook: a mistyped command gets one line on
 * stderr naming it and the closest real command, and exits 2 (a usage error, like a bad
 * flag). With --json it prints the JSON error body on stdout instead, as every command does
 * for its usage errors (BaseCommand.catch). It never asks a question, so scripts and CI fail
 * fast instead of waiting.
 */
const commandNotFound: Hook<'command_not_found'> = async function (opts) {
  const {line, json, exitCode} = unknownCommandError(opts.id, commandListOf(this.config))
  if (jsonRequested(opts.argv ?? [])) process.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
  else process.stderr.write(`${line}\n`)
  this.exit(exitCode)
}

export default commandNotFound
