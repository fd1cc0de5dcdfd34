import {existsSync, writeFileSync} from 'node:fs'
import {UserError} from '../errors/errors.js'
import {writeFailure} from '../fs/fileFailure.js'
import {generateSigningKeyPair} from './signing.js'

/** KeygenResult is `plan keygen`'s --json output: the key id and the two files (never the key). */
export interface KeygenResult {
  keyId: string
  privateKeyFile: string
  publicKeyFile: string
}

/**
 * writeSigningKeyPair creates an Ed25519 key pair as `<prefix>.key` (PKCS#8 PEM, mode 0600,
 * created exclusively) and `<prefix>.pub` (SPKI PEM). Throws UserError(ALREADY_EXISTS) when
 * either file exists (a signing key is never overwritten), BAD_INPUT when it cannot write.
 */
export function writeSigningKeyPair(prefix: string): KeygenResult {
  const privateKeyFile = `${prefix}.key`
  const publicKeyFile = `${prefix}.pub`
  for (const f of [privateKeyFile, publicKeyFile]) {
    if (existsSync(f)) throw new UserError('ALREADY_EXISTS', `${f} already exists; refusing to overwrite a key`, 'pick another --out, or delete the old pair first')
  }
  const pair = generateSigningKeyPair()
  try {
    writeFileSync(privateKeyFile, pair.privateKeyPem, {mode: 0o600, flag: 'wx'})
    writeFileSync(publicKeyFile, pair.publicKeyPem, {mode: 0o644, flag: 'wx'})
  } catch (e) {
    throw new UserError('BAD_INPUT', `cannot write the key pair at ${prefix}: ${writeFailure(e)}`, 'check that the directory exists and is writable')
  }
  return {keyId: pair.keyId, privateKeyFile, publicKeyFile}
}
