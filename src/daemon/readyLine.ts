/** DaemonRole is the kind of daemon that prints a ready line. */
export type DaemonRole = 'node' | 'router'

/** Ready is what a daemon's ready line says: who serves which cluster, at the address it registered. */
export interface Ready {
  role: DaemonRole
  id: string
  cluster: string
  /** address is `host:port` as registered: the bound port when it listened on port 0. */
  address: string
}

/**
 * readyLine is the one line `node serve` and `router serve` print on stdout once they serve:
 * `<role> <id> serving cluster <name> on <host:port>`, or with --json one JSON object
 * `{"type":"ready","role":…,"id":…,"cluster":…,"address":…}` (--json silences the text line, and
 * a script listening on port 0 needs the bound port all the same). No trailing newline.
 */
export function readyLine(r: Ready, json: boolean): string {
  if (json) return JSON.stringify({type: 'ready', role: r.role, id: r.id, cluster: r.cluster, address: r.address})
  return `${r.role} ${r.id} serving cluster ${r.cluster} on ${r.address}`
}

/**
 * announceReady prints `r`'s ready line once a daemon serves: the text line, or with `json` the
 * JSON event (oclif silences `this.log` under --json, and a script listening on port 0 needs the
 * bound port all the same), each ending in a newline. `write` is stdout unless a test injects one.
 * Both `node serve` and `router serve` call it, so the two lines cannot drift apart.
 */
export function announceReady(r: Ready, json: boolean, write: (line: string) => void = (line) => process.stdout.write(line)): void {
  write(`${readyLine(r, json)}\n`)
}

const TEXT = /^(node|router) (\S+) serving cluster (\S+) on (\S+)$/

/**
 * parseReadyLine reads one line as a ready line in either form, or undefined when it is not
 * one (a log line, a result line, a partial line still being written).
 */
export function parseReadyLine(line: string): Ready | undefined {
  const text = TEXT.exec(line.trim())
  if (text) return {role: text[1] as DaemonRole, id: text[2]!, cluster: text[3]!, address: text[4]!}
  if (!line.trimStart().startsWith('{')) return undefined
  try {
    const j = JSON.parse(line) as Record<string, unknown>
    const {type, role, id, cluster, address} = j
    if (type !== 'ready' || (role !== 'node' && role !== 'router')) return undefined
    if (typeof id !== 'string' || typeof cluster !== 'string' || typeof address !== 'string') return undefined
    return {role, id, cluster, address}
  } catch {
    return undefined
  }
}

/**
 * readyAddress is the address daemon `role` `id` printed on its ready line in `output` (what
 * it wrote, in either form; stderr's JSON log lines mixed in never match), or undefined before
 * it printed one. Only a complete line counts. Reading it from the child's own output, not
 * from whatever answers on a port, is what tells the child serves: a port chosen free and
 * released may be taken by another process before the child binds it.
 */
export function readyAddress(output: string, role: DaemonRole, id: string): string | undefined {
  const lines = output.split('\n')
  // The last piece has no newline yet: a line still being written.
  lines.pop()
  for (const line of lines) {
    const r = parseReadyLine(line)
    if (r && r.role === role && r.id === id) return r.address
  }
  return undefined
}
