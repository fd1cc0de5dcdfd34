import {EXIT_CODES, type ErrorCode} from '../errors/codes.js'
import {UserError} from '../errors/errors.js'

/** RenderedError is an error as the CLI shows it: one line of text, a JSON body and an exit code. */
export interface RenderedError {
  line: string
  json: {error: {code: ErrorCode | 'USAGE'; message: string; hint?: string; exitCode: number}}
  exitCode: number
}

/**
 * renderError turns anything thrown into what the CLI prints. UserErrors keep their code;
 * oclif's parse errors (unknown flag, missing argument, bad option value) become usage
 * errors with exit 2; anything else is a bug (exit 1), shown with its stack when DEBUG is set.
 */
export function renderError(err: unknown, commandId: string | undefined): RenderedError {
  if (err instanceof UserError) {
    const exitCode = EXIT_CODES[err.code]
    return {
      line: `Error: ${err.message}${err.hint ? ` — ${err.hint}` : ''}`,
      json: {error: {code: err.code, message: err.message, hint: err.hint, exitCode}},
      exitCode,
    }
  }
  const {oclif, parse} = (err ?? {}) as {oclif?: {exit?: number}; parse?: unknown}
  const message = err instanceof Error ? err.message : String(err)
  if (oclif?.exit === 2 || parse !== undefined || /^(Nonexistent flags?|Unexpected arguments?|Missing \d* ?required|Expected |Parsing --|The following error occurred)/.test(message)) {
    // A custom flag's parser failed: oclif wraps its message as "Parsing --flag \n\t<message>".
    const flagFailure = /^Parsing (--[\w-]+)\s*\n\s*([^\n]*)/.exec(message)
    const first = flagFailure ? `${flagFailure[1]}: ${flagFailure[2]}` : oneLineParseError(message)
    const hint = `see \`shardctl ${(commandId ?? '').replaceAll(':', ' ')} --help\``.replace('  ', ' ')
    return {line: `Error: ${first} — ${hint}`, json: {error: {code: 'USAGE', message: first, hint, exitCode: 2}}, exitCode: 2}
  }
  const line = `Error: unexpected failure: ${message.split('\n')[0]} — this is a bug; rerun with DEBUG=1 to see the stack and report it`
  return {line, json: {error: {code: 'INTERNAL', message: message.split('\n')[0] ?? message, exitCode: 1}}, exitCode: 1}
}

/**
 * oneLineParseError folds an oclif parse message onto one line: it drops the "See more help"
 * and "The following error occurred:" boilerplate, names a missing flag as it is typed
 * (--address), and renders the argument rows ("name  description") under "Missing 1 required
 * arg:" as "Missing 1 required arg: name (description)" instead of "arg:; name  description".
 */
function oneLineParseError(message: string): string {
  const lines = message
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s && !/^See more help/i.test(s) && !/^The following errors? occurred:?$/i.test(s))
  const out: string[] = []
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (!/^Missing \d+ required args?:$/.test(line)) {
      out.push(line.replace(/^Missing required flag (?!-)/, 'Missing required flag --'))
      continue
    }
    const args: string[] = []
    for (; i + 1 < lines.length && /^\S+\s{2,}\S|^\S+$/.test(lines[i + 1]!) && !/^Note:/.test(lines[i + 1]!); i++) {
      const [, name, description] = /^(\S+)\s*(.*)$/.exec(lines[i + 1]!)!
      args.push(description ? `${name} (${description})` : name!)
    }
    out.push(`${line} ${args.join(', ')}`)
  }
  return out.join('; ')
}
