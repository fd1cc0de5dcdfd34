/**
 * readFailure says in a few words why a file could not be read, for the one-line errors of
 * every file a command reads (plans, snapshots, keys, certificates, tokens, values, config):
 * "cannot read it (EISDIR)" left the operator to decode errno; the path is named by the caller.
 */
export function readFailure(err: unknown): string {
  const code = (err as {code?: string} | undefined)?.code
  const words = code === undefined ? undefined : READ_FAILURES[code]
  return words ?? code ?? (err instanceof Error ? err.message.split('\n')[0]! : String(err))
}

const READ_FAILURES: Record<string, string> = {
  ENOENT: 'no such file',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a parent of it is a file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the name is too long',
}
