import {type RenderedError, renderError} from './renderError.js'

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
