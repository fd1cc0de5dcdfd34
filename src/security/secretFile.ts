import {closeSync, openSync, unlinkSync, writeSync} from 'node:fs'
import {UserError} from '../errors/errors.js'
import {writeFailure} from '../fs/fileFailure.js'

/** SecretFile is a new, empty 0600 file reserved for a secret not minted yet. */
export interface SecretFile {
  /** write puts `secret` and a newline in the file and closes it. */
  write(secret: string): void
  /** abandon closes and deletes the file: the secret it was for was never created. */
  abandon(): void
}

/**
 * reserveSecretFile creates `path` empty with mode 0600 before the secret exists, so a path
 * that cannot take it (it exists, a directory, no permission) is refused before anything is
 * recorded: a token stored in etcd whose file then failed would exist with its secret shown
 * nowhere. Never replaces an existing file (a token lost by overwriting cannot be
 * recovered). Throws UserError(ALREADY_EXISTS) when it exists, BAD_INPUT when it cannot be
 * created; the message names the path, never the secret.
 */
export function reserveSecretFile(path: string, flag: string): SecretFile {
  let fd: number
  try {
    fd = openSync(path, 'wx', 0o600)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new UserError('ALREADY_EXISTS', `${flag} ${path} already exists; nothing was changed`, 'pick a new file; the secret is shown nowhere else')
    throw new UserError('BAD_INPUT', `${flag}: cannot write ${path}: ${writeFailure(err)}; nothing was changed`, 'pick a writable path')
  }
  return {
    write(secret) {
      try {
        writeSync(fd, `${secret}\n`)
      } finally {
        closeSync(fd)
      }
    },
    abandon() {
      closeSync(fd)
      unlinkSync(path)
    },
  }
}

/**
 * createWithSecretFile reserves `path` (see {@link reserveSecretFile}) before `create`
 * records anything, deletes it when `create` throws or returns no token, and otherwise
 * writes the token into it: a token is never recorded without the file that shows it.
 * Without a path it only runs `create`.
 */
export async function createWithSecretFile<T extends {token?: string}>(path: string | undefined, flag: string, create: () => Promise<T>): Promise<T> {
  const file = path === undefined ? undefined : reserveSecretFile(path, flag)
  let created: T
  try {
    created = await create()
  } catch (err) {
    file?.abandon()
    throw err
  }
  if (created.token === undefined) file?.abandon()
  else file?.write(created.token)
  return created
}

/**
 * writeSecretFile creates `path` with mode 0600 holding `secret` and a newline, as
 * {@link reserveSecretFile} then write. Throws as reserveSecretFile.
 */
export function writeSecretFile(path: string, secret: string, flag: string): void {
  reserveSecretFile(path, flag).write(secret)
}
