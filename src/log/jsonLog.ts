/**
 * JsonLog writes one JSON object per line: `{"time": ISO-8601, "level", "msg", ...fields}`,
 * the shape log shippers (and pino) expect. Nodes, routers and the executor's daemons log
 * through it; fields must never carry a secret.
 */
export interface JsonLog {
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
}

/**
 * jsonLog builds a {@link JsonLog} over `write` (stderr by default), stamping each line with
 * `time`, `level`, `msg` and the `base` fields (e.g. `{node: "n1"}`); `fields` may add to
 * but not replace those three.
 */
export function jsonLog(base: Record<string, unknown>, write: (line: string) => void = (l) => process.stderr.write(l), clock: () => Date = () => new Date()): JsonLog {
  const emit = (level: string, msg: string, fields?: Record<string, unknown>) => write(`${JSON.stringify({...base, ...fields, time: clock().toISOString(), level, msg})}\n`)
  return {
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  }
}
