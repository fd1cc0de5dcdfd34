import {type RenderedError, renderError} from './renderError.js'
import {commandListOf, type CommandSource, unknownCommandError} from './unknownCommand.js'

/**
 * topLevelUsageError renders a parse error that reached bin/run.js (unknown flag, unexpected
 * or invalid argument) as the one line and exit 2 every shardctl command gives, instead of
 * oclif's `›` lines with the command's usage after them. Only a command of oclif's own plugins
 * (`help`, `autocomplete`) lets one through: ours render theirs in BaseCommand.catch. The
 * command named in the hint is the parser's (its context); an invalid argument value carries
 * none, and then it is argv's first word (each plugin command is one word). Anything but a parse
 * error: undefined, for oclif's own handler. Pure.
 */
export function topLevelUsageError(err: unknown, argv: readonly string[]): RenderedError | undefined {
  const {parse, oclif} = (err ?? {}) as {parse?: {input?: {context?: {id?: string}}}; oclif?: {exit?: number}}
  if (parse === undefined || oclif?.exit !== 2) return undefined
  const first = argv[0]?.startsWith('-') === false ? argv[0] : undefined
  return renderError(err, parse.input?.context?.id ?? first)
}

/**
 * unknownHelpSubject is the command id (`node:nosuch`) oclif's help was asked about and did
 * not find, from the error it throws then (`shardctl help nosuch`, `shardctl nosuch --help`):
 * `Command <id> not found.`, exit 2, no parse. The message is all that error carries; the
 * test against oclif's real help pins its form. Anything else: undefined. Pure.
 */
export function unknownHelpSubject(err: unknown): string | undefined {
  const {parse, oclif, message} = (err ?? {}) as {parse?: unknown; oclif?: {exit?: number}; message?: unknown}
  if (parse !== undefined || oclif?.exit !== 2 || typeof message !== 'string') return undefined
  return /^Command (\S+) not found\.$/.exec(message)?.[1]
}

/**
 * topLevelError is what bin/run.js prints for an error that reached it, when it is one of
 * ours to print: help about an unknown command gets the line `shardctl nosuch` gets
 * (unknownCommandError: the closest command, exit 2), from the commands of the oclif Config
 * `loadConfig` loads (only then: every other error is answered without it); a plugin command's parse error gets
 * topLevelUsageError's line. Anything else: undefined, for oclif's own handler.
 */
export async function topLevelError(err: unknown, argv: readonly string[], loadConfig: () => Promise<CommandSource>): Promise<RenderedError | undefined> {
  const subject = unknownHelpSubject(err)
  if (subject !== undefined) return unknownCommandError(subject, commandListOf(await loadConfig()))
  return topLevelUsageError(err, argv)
}
