// Why a file could not be read (readFailure) or written (writeFailure), in words.

/**
 * readFailure says in a few words why a file could not be read, for the one-line errors of
 * every file a command reads (plans, snapshots, keys, certificates, tokens, values, config):
 * "cannot read it (EISDIR)" left the operator to decode errno; the path is named by the caller.
 */
export function readFailure(err: unknown): string {
  return inWords(err, READ_FAILURES)
}

/**
 * writeFailure is readFailure for a file or directory a command creates (plans, snapshots,
 * certificates, signing keys, a node's data dir): "cannot create --certs-dir x (ENOTDIR)"
 * named errno where the operator needs the reason.
 */
export function writeFailure(err: unknown): string {
  return inWords(err, WRITE_FAILURES)
}

function inWords(err: unknown, table: Record<string, string>): string {
  const code = (err as {code?: string} | undefined)?.code
  const words = code === undefined ? undefined : table[code]
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

const WRITE_FAILURES: Record<string, string> = {
  ...READ_FAILURES,
  // mkdir -p through a file says EEXIST or ENOTDIR; makeDirectories says ENOTDIR for a file at the path itself.
  EEXIST: 'it or a parent of it is a file',
  // makeDirectories creates missing parents itself: an ENOENT left is a file system that takes no new entries there (/proc).
  ENOENT: 'no such file or directory',
  ENOTDIR: 'it or a parent of it is a file',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
}
