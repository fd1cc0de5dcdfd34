import {EXIT_CODES} from '../errors/codes.js'
import {suggestCommand} from './commandSuggestion.js'
import {type RenderedError} from './renderError.js'

/** CommandList is what an unknown-command line is figured from: the CLI's name and its visible command ids (colon-separated). */
export interface CommandList {
  bin: string
  ids: readonly string[]
}

/** CommandSource is the part of an oclif Config a CommandList is read from. */
export interface CommandSource {
  bin: string
  commands: readonly {id: string; hidden?: boolean}[]
}

/** commandListOf takes the CommandList from an oclif Config (hidden commands are never suggested). */
export function commandListOf(config: CommandSource): CommandList {
  return {bin: config.bin, ids: config.commands.filter((c) => !c.hidden).map((c) => c.id)}
}

/**
 * unknownCommandError is the one line (and exit 2, a usage error like a bad flag) for a
 * command id that names no command: it names what was typed and the closest real command,
 * or points at the command list. The same line whether the id came as `shardctl nosuch` (the
 * command_not_found hook) or as `shardctl help nosuch` / `shardctl nosuch --help` (oclif's
 * help, see topLevelError). Pure.
 */
export function unknownCommandError(id: string, {bin, ids}: CommandList): RenderedError {
  const spaced = (x: string) => x.replaceAll(':', ' ')
  const guess = suggestCommand(id, ids)
  const message = `\`${bin} ${spaced(id)}\` is not a ${bin} command`
  const hint = guess ? `did you mean \`${bin} ${spaced(guess)}\`? See \`${bin} ${spaced(guess)} --help\`` : `see \`${bin} --help\` for the commands`
  const exitCode = EXIT_CODES.BAD_INPUT
  return {line: `Error: ${message} — ${hint}`, json: {error: {code: 'BAD_INPUT', message, hint, exitCode}}, exitCode}
}
