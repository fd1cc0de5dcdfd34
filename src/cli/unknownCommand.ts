import {EXIT_CODES} from '../errors/codes.js'
import {suggestCommand} from './commandSuggestion.js'
import {type RenderedError} from './renderError.js'

/**
 * CommandList is what an unknown-command line is figured from: the CLI's name, its visible
 * command ids and its visible topics (`node`, `moves`: colon-separated ids too). A topic is
 * suggested like a command (`nod` → `node`, whose help lists its commands), never run.
 */
export interface CommandList {
  bin: string
  ids: readonly string[]
  topics?: readonly string[]
}

/** CommandSource is the part of an oclif Config a CommandList is read from. */
export interface CommandSource {
  bin: string
  commands: readonly {id: string; hidden?: boolean}[]
  topics?: readonly {name: string; hidden?: boolean}[]
}

/** commandListOf takes the CommandList from an oclif Config (hidden commands and topics are never suggested). */
export function commandListOf(config: CommandSource): CommandList {
  return {bin: config.bin, ids: config.commands.filter((c) => !c.hidden).map((c) => c.id), topics: (config.topics ?? []).filter((t) => !t.hidden).map((t) => t.name)}
}

/**
 * unknownCommandError is the one line (and exit 2, a usage error like a bad flag) for a
 * command id that names no command. The same line whether the id came as `shardctl nosuch`
 * (the command_not_found hook) or as `shardctl help nosuch` / `shardctl nosuch --help`
 * (oclif's help, see topLevelError). When the id starts with a real command and the words
 * after it are no subcommand of it, nor close to one, they are arguments the command does not
 * take (oclif reads the words after a command without arguments as more of its id:
 * `cluster status extra`): the line says so as a parse error of that command does
 * (`Unexpected argument: extra — see \`shardctl cluster status --help\``), not that the
 * command the user typed right does not exist. Otherwise it names what was typed and the
 * closest real command, or points at the command list. Pure.
 */
export function unknownCommandError(id: string, {bin, ids, topics = []}: CommandList): RenderedError {
  const spaced = (x: string) => x.replaceAll(':', ' ')
  const exitCode = EXIT_CODES.BAD_INPUT
  const extra = extraArguments(id, ids)
  if (extra) {
    const message = `Unexpected argument${extra.args.length > 1 ? 's' : ''}: ${extra.args.join(', ')}`
    const hint = `see \`${bin} ${spaced(extra.command)} --help\``
    return {line: `Error: ${message} — ${hint}`, json: {error: {code: 'USAGE', message, hint, exitCode}}, exitCode}
  }
  const guess = suggestCommand(id, [...new Set([...ids, ...topics])])
  const message = `\`${bin} ${spaced(id)}\` is not a ${bin} command`
  const hint = guess ? `did you mean \`${bin} ${spaced(guess)}\`? See \`${bin} ${spaced(guess)} --help\`` : `see \`${bin} --help\` for the commands`
  return {line: `Error: ${message} — ${hint}`, json: {error: {code: 'BAD_INPUT', message, hint, exitCode}}, exitCode}
}

/**
 * extraArguments splits `id` into the longest real command it starts with and the words after
 * it, when the first of those words is not a typo of one of that command's subcommands
 * (`plan shw` is `plan show` mistyped, not `plan` with an argument). Undefined otherwise.
 */
function extraArguments(id: string, ids: readonly string[]): {command: string; args: string[]} | undefined {
  const words = id.split(':')
  for (let k = words.length - 1; k >= 1; k--) {
    const command = words.slice(0, k).join(':')
    if (!ids.includes(command)) continue
    const subcommands = ids.filter((x) => x.startsWith(`${command}:`))
    if (suggestCommand(words.slice(0, k + 1).join(':'), subcommands)) return undefined
    return {command, args: words.slice(k)}
  }
  return undefined
}
