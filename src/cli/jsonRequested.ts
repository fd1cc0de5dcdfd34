/**
 * jsonRequested says whether `argv` asks for `--json`, as oclif's Command.jsonEnabled reads a
 * command's argv: `--json` anywhere before a `--` (after it, it is an argument). For output
 * printed where no command runs (an unknown command: src/cli/hooks/commandNotFound.ts), so
 * a script that passed --json gets the JSON error body every command gives. Pure.
 */
export function jsonRequested(argv: readonly string[]): boolean {
  const end = argv.indexOf('--')
  const json = argv.indexOf('--json')
  return json !== -1 && (end === -1 || json < end)
}
