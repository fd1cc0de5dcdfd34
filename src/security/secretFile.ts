import {writeFileSync} from 'node:fs'
import {UserError} from '../errors/errors.js'

/**
 * writeSecretFile creates `path` with mode 0600 holding `secret` and a newline; it never
 * replaces an existing file (a token lost by overwriting cannot be recovered). Throws
 * UserError(ALREADY_EXISTS) when it exists, BAD_INPUT when it cannot be written; the
 * message names the path, never the secret.
 */
export function writeSecretFile(path: string, secret: string, flag: string): void {
  try {
    writeFileSync(path, `${secret}\n`, {mode: 0o600, flag: 'wx'})
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new UserError('ALREADY_EXISTS', `${flag} ${path} already exists`, 'pick a new file; the secret is shown nowhere else')
    throw new UserError('BAD_INPUT', `${flag}: cannot write ${path} (${code ?? 'error'})`, 'pick a writable path')
  }
}
