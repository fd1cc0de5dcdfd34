/** ManifestFlag is the part of an oclif manifest flag the reference shows. */
export interface ManifestFlag {
  name: string
  char?: string
  description?: string
  type: 'boolean' | 'option'
  required?: boolean
  default?: unknown
  env?: string
  options?: readonly string[]
  helpGroup?: string
  helpValue?: string | string[]
  hidden?: boolean
}

/** ManifestCommand is the part of an oclif manifest command the reference shows. */
export interface ManifestCommand {
  id: string
  summary?: string
  description?: string
  hidden?: boolean
  examples?: readonly (string | {command: string; description?: string})[]
  args?: Record<string, {name: string; description?: string; required?: boolean}>
  flags?: Record<string, ManifestFlag>
}

/** CommandManifest is an oclif manifest (`oclif.manifest.json`): commands by id. */
export interface CommandManifest {
  commands: Record<string, ManifestCommand>
}

const GENERATED_NOTE = '<!-- Generated from the oclif manifest by `npm run docs:commands`; do not edit. test/e2e/commandReference.test.ts fails when it is stale. -->'

/**
 * renderCommandReference renders every visible command of `manifest` as Markdown: usage,
 * summary, description, arguments, flags (with default, environment variable and allowed
 * values) and examples, sorted by command. The etcd connection flags and --json, which
 * most commands share, are described once at the top. Pure and deterministic, so the
 * committed docs/commands.md can be compared with a fresh rendering.
 */
export function renderCommandReference(manifest: CommandManifest, bin: string): string {
  const commands = Object.values(manifest.commands)
    .filter((c) => !c.hidden)
    .sort((a, b) => a.id.localeCompare(b.id))
  const shared = new Map<string, ManifestFlag>()
  for (const c of commands) for (const f of Object.values(c.flags ?? {})) if (isShared(f) && !shared.has(f.name)) shared.set(f.name, f)
  const out: string[] = [GENERATED_NOTE, '', `# ${bin} command reference`, '']
  out.push(`Every command takes \`-h\`/\`--help\`. Durations read \`500ms\`, \`30s\`, \`5m\`, \`1h\`, \`7d\` (a bare number is seconds); rates \`50MiB/s\`; sizes \`256KiB\`, \`100GiB\`. A bad value exits 2 with one line naming the flag. Shell completion: \`${bin} autocomplete [bash|zsh|powershell]\` prints the setup steps; a mistyped command or topic, also after \`help\` or before \`--help\`, gets a "did you mean" line and exit 2.`, '')
  out.push('| command | summary |', '| --- | --- |')
  for (const c of commands) out.push(`| [\`${bin} ${spaced(c.id)}\`](#${anchor(`${bin} ${spaced(c.id)}`)}) | ${cell(c.summary ?? '')} |`)
  out.push('', '## Shared flags', '', 'Commands that talk to etcd take the connection flags; commands that print a result take `--json`.', '')
  out.push(...flagTable([...shared.values()].sort((a, b) => a.name.localeCompare(b.name))), '')
  for (const c of commands) out.push(...renderCommand(c, bin))
  return `${out.join('\n').trimEnd()}\n`
}

function renderCommand(c: ManifestCommand, bin: string): string[] {
  const name = `${bin} ${spaced(c.id)}`
  const args = Object.values(c.args ?? {})
  const own = Object.values(c.flags ?? {}).filter((f) => !f.hidden && !isShared(f))
  const sharedNames = Object.values(c.flags ?? {}).filter((f) => !f.hidden && isShared(f)).map((f) => `--${f.name}`)
  const usage = [name, ...args.map((a) => (a.required ? a.name.toUpperCase() : `[${a.name.toUpperCase()}]`)), ...(own.length + sharedNames.length > 0 ? ['[FLAGS]'] : [])].join(' ')
  const out = [`## ${name}`, '', c.summary ?? '', '', '```', usage, '```', '']
  if (c.description) out.push(c.description, '')
  if (args.length > 0) {
    out.push('| argument | description |', '| --- | --- |')
    for (const a of args) out.push(`| \`${a.name.toUpperCase()}\`${a.required ? ' (required)' : ''} | ${cell(a.description ?? '')} |`)
    out.push('')
  }
  if (own.length > 0) out.push(...flagTable(own.sort((a, b) => a.name.localeCompare(b.name))), '')
  if (sharedNames.length > 0) out.push(`Also takes the [shared flags](#shared-flags): ${sharedNames.map((n) => `\`${n}\``).join(', ')}.`, '')
  const examples = (c.examples ?? []).map((e) => (typeof e === 'string' ? e : e.command).replaceAll('<%= config.bin %>', bin))
  if (examples.length > 0) out.push('Examples:', '', '```sh', ...examples, '```', '')
  return out
}

function flagTable(flags: ManifestFlag[]): string[] {
  const rows = ['| flag | description | default | env |', '| --- | --- | --- | --- |']
  for (const f of flags) {
    const value = f.type === 'option' ? `=${f.options ? f.options.join('\\|') : typeof f.helpValue === 'string' ? f.helpValue : '<value>'}` : ''
    const name = `${f.char ? `\`-${f.char}\`, ` : ''}\`--${f.name}${value}\`${f.required ? ' (required)' : ''}`
    const dflt = f.default === undefined || f.default === false ? '' : `\`${String(f.default)}\``
    rows.push(`| ${name} | ${cell(f.description ?? '')} | ${dflt} | ${f.env ? `\`${f.env}\`` : ''} |`)
  }
  return rows
}

function isShared(f: ManifestFlag): boolean {
  return f.helpGroup === 'ETCD' || (f.helpGroup === 'GLOBAL' && f.name === 'json')
}

function spaced(id: string): string {
  return id.replaceAll(':', ' ')
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ')
}

/** anchor is the heading id GitHub gives `## text`: lower case, spaces to dashes, punctuation dropped. */
function anchor(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9 _-]/g, '').replaceAll(' ', '-')
}
