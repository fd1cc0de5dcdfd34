import {readFileSync} from 'node:fs'
import {createSecureContext} from 'node:tls'
import {UserError} from '../errors/errors.js'
import {readFailure} from '../fs/fileFailure.js'

/** TlsPaths are the PEM files a data-plane process was given (flags or SHARDCTL_TLS_* env). */
export interface TlsPaths {
  cert?: string
  key?: string
  ca?: string
}

/**
 * TlsMaterial is loaded, checked PEM: `ca` is the cluster CA bundle (one or more
 * certificates: during a CA rotation both the old and the new CA), `cert`/`key` this
 * process's certificate chain and private key. The key never leaves this object: errors
 * and logs name files, never contents.
 */
export interface TlsMaterial {
  ca: Buffer
  cert?: Buffer
  key?: Buffer
  /** paths are kept to reload the same files (rotation) and to name them in messages. */
  paths: TlsPaths
}

/** TlsRequirement says what a caller needs: a server or a mutual-TLS client needs its own certificate, a plain TLS client only the CA. */
export type TlsRequirement = 'ca-only' | 'certificate'

/**
 * loadTlsMaterial reads and checks the files named by `paths`. Returns undefined when no
 * path is given (plaintext). Throws UserError(BAD_INPUT), naming the flag and file and how
 * to fix it, when only some of the needed files are given, a file cannot be read or holds
 * no PEM block of the right kind, or the key does not match the certificate. Never puts a
 * file's contents in a message.
 */
export function loadTlsMaterial(paths: TlsPaths, need: TlsRequirement, flagPrefix = '--tls'): TlsMaterial | undefined {
  const given = (['cert', 'key', 'ca'] as const).filter((k) => paths[k] !== undefined && paths[k] !== '')
  if (given.length === 0) return undefined
  // A certificate is useless without its key and the other way round, even for a CA-only client.
  const wantsCertificate = need === 'certificate' || given.includes('cert') || given.includes('key')
  const required: readonly (keyof TlsPaths)[] = wantsCertificate ? ['cert', 'key', 'ca'] : ['ca']
  const missing = required.filter((k) => !given.includes(k))
  if (missing.length > 0) {
    throw new UserError(
      'BAD_INPUT',
      `TLS needs ${missing.map((k) => `${flagPrefix}-${k}`).join(' and ')} too (given: ${given.map((k) => `${flagPrefix}-${k}`).join(', ')})`,
      'make them with `shardctl cert create-ca` and `shardctl cert create-node` / `create-client`, or pass none for plaintext',
    )
  }
  const ca = readPem(paths.ca!, `${flagPrefix}-ca`, 'CERTIFICATE')
  if (!paths.cert) return {ca, paths}
  const cert = readPem(paths.cert, `${flagPrefix}-cert`, 'CERTIFICATE')
  const key = readPem(paths.key!, `${flagPrefix}-key`, 'PRIVATE KEY')
  try {
    createSecureContext({cert, key, ca})
  } catch (err) {
    const why = (err as {code?: string}).code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH' || /key values mismatch/i.test(String((err as Error).message)) ? 'the key does not belong to the certificate' : 'OpenSSL refused them'
    throw new UserError('BAD_INPUT', `${flagPrefix}-key ${paths.key} and ${flagPrefix}-cert ${paths.cert} cannot be used together: ${why}`, 'pass the .key file written beside the .crt by `shardctl cert create-*`')
  }
  return {ca, cert, key, paths}
}

function readPem(file: string, flag: string, kind: 'CERTIFICATE' | 'PRIVATE KEY'): Buffer {
  let buf: Buffer
  try {
    buf = readFileSync(file)
  } catch (err) {
    throw new UserError('BAD_INPUT', `${flag}: cannot read ${file} (${readFailure(err)})`, 'check the path and its permissions')
  }
  // "PRIVATE KEY" also matches "EC PRIVATE KEY" and "RSA PRIVATE KEY" headers.
  if (!new RegExp(`-----BEGIN [A-Z ]*${kind}-----`).test(buf.toString('latin1'))) {
    throw new UserError('BAD_INPUT', `${flag}: ${file} holds no PEM ${kind}`, kind === 'CERTIFICATE' ? 'pass a .crt file written by `shardctl cert create-*`' : 'pass the .key file written beside the certificate')
  }
  return buf
}
