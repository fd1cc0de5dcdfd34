import {accessSync, constants} from 'node:fs'
import {delimiter, join} from 'node:path'
import {UserError} from '../errors/errors.js'

/** ETCD_INSTALL_HINT is the one-line fix shown when no etcd binary is found. */
export const ETCD_INSTALL_HINT = 'install it (Debian/Ubuntu: `apt-get update && apt-get install -y etcd-server`), or set ETCD_BIN to its path'

/**
 * findEtcdBinary returns the etcd executable: `ETCD_BIN` when set, else the first `etcd`
 * on PATH. Throws UserError(MISSING_DEPENDENCY) with the install hint when there is none.
 */
export function findEtcdBinary(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ETCD_BIN) {
    if (isExecutable(env.ETCD_BIN)) return env.ETCD_BIN
    throw new UserError('MISSING_DEPENDENCY', `ETCD_BIN=${env.ETCD_BIN} is not an executable file`, ETCD_INSTALL_HINT)
  }
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, 'etcd')
    if (isExecutable(candidate)) return candidate
  }
  throw new UserError('MISSING_DEPENDENCY', 'etcd was not found on PATH', ETCD_INSTALL_HINT)
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}
