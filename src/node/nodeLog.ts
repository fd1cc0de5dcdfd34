/** NodeLog writes one JSON object per line (to stderr by default): machine-readable, never a secret. */
export interface NodeLog {
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
}

/** jsonLineLog builds a {@link NodeLog} over `write`, stamping each line with time, level and `base` fields. */
export function jsonLineLog(base: Record<string, unknown>, write: (line: string) => void = (l) => process.stderr.write(l), clock: () => Date = () => new Date()): NodeLog {
  const emit = (level: string, msg: string, fields?: Record<string, unknown>) => write(`${JSON.stringify({t: clock().toISOString(), level, msg, ...base, ...fields})}\n`)
  return {
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  }
}
