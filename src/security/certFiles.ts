import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {UserError} from '../errors/errors.js'
import {NAME_PATTERN} from './accessControl.js'
import {certHostProblem} from './certHost.js'
import {createCa, issueCertificate, type LeafKind, type PemPair} from '../transport/certificateAuthority.js'
import {makeDirectories} from '../fs/makeDirectories.js'
import {writeFailure} from '../fs/fileFailure.js'

/** CertFilesResult says which files were written (never their contents). */
export interface CertFilesResult {
  cert: string
  key: string
  commonName: string
  notAfter: string
}

/** CertOptions: the certificate directory, lifetime, overwrite, and the clock. */
export interface CertOptions {
  dir: string
  days: number
  force: boolean
  now: Date
}

/**
 * createCaFiles writes `<dir>/ca.crt` and `<dir>/ca.key` (0600). Throws UserError:
 * ALREADY_EXISTS when either exists and `force` is off (an existing CA is never replaced by
 * accident: every certificate it signed would stop working), BAD_INPUT for a bad lifetime.
 */
export async function createCaFiles(opts: CertOptions & {commonName: string}): Promise<CertFilesResult> {
  checkDays(opts.days)
  const files = {cert: join(opts.dir, 'ca.crt'), key: join(opts.dir, 'ca.key')}
  refuseOverwrite(files, opts.force)
  const pair = await createCa(opts.commonName, {notBefore: opts.now, days: opts.days})
  return write(files, pair, opts)
}

/**
 * createLeafFiles signs a node or client certificate with the CA in `dir` and writes
 * `<dir>/<kind>.<name>.crt` and `.key` (0600). Throws UserError: BAD_INPUT (name, hosts,
 * lifetime), NOT_FOUND (no CA in `dir`: run create-ca first), ALREADY_EXISTS (files exist
 * and `force` is off).
 */
export async function createLeafFiles(kind: LeafKind, name: string, hosts: readonly string[], opts: CertOptions): Promise<CertFilesResult> {
  if (!NAME_PATTERN.test(name)) throw new UserError('BAD_INPUT', `"${name}" is not a valid ${kind} name`, 'use 1-64 letters, digits, "_" or "-" (a node id, or the user name a router maps the certificate to)')
  if (kind === 'node' && hosts.length === 0) throw new UserError('BAD_INPUT', 'a node certificate needs at least one --host', 'e.g. --host 127.0.0.1 --host localhost (every address peers dial it at)')
  for (const host of hosts) {
    const problem = certHostProblem(host)
    if (problem) throw new UserError('BAD_INPUT', `--host "${host}" is ${problem}; nothing was written`, 'e.g. --host 127.0.0.1 --host node1.internal (every IP or DNS name peers dial it at)')
  }
  checkDays(opts.days)
  const ca = readCa(opts.dir)
  const files = {cert: join(opts.dir, `${kind}.${name}.crt`), key: join(opts.dir, `${kind}.${name}.key`)}
  refuseOverwrite(files, opts.force)
  const pair = await issueCertificate(ca, {kind, commonName: name, hosts, validity: {notBefore: opts.now, days: opts.days}})
  return write(files, pair, opts, name)
}

function readCa(dir: string): PemPair {
  const cert = join(dir, 'ca.crt')
  const key = join(dir, 'ca.key')
  if (!existsSync(cert) || !existsSync(key)) throw new UserError('NOT_FOUND', `no CA in ${dir} (ca.crt and ca.key)`, `create one with \`shardctl cert create-ca --certs-dir ${dir}\``)
  return {certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8')}
}

function refuseOverwrite(files: {cert: string; key: string}, force: boolean): void {
  if (force) return
  const there = [files.cert, files.key].filter((f) => existsSync(f))
  if (there.length > 0) throw new UserError('ALREADY_EXISTS', `${there.join(' and ')} already exist${there.length === 1 ? 's' : ''}; nothing was written`, 'pass --force to replace them, or another --certs-dir')
}

function checkDays(days: number): void {
  if (!Number.isInteger(days) || days < 1 || days > 3650) throw new UserError('BAD_INPUT', `--days must be a whole number from 1 to 3650 (got ${days})`)
}

function write(files: {cert: string; key: string}, pair: PemPair, opts: CertOptions, commonName = 'shardctl-ca'): CertFilesResult {
  try {
    makeDirectories(opts.dir, 0o700)
  } catch (err) {
    // A --certs-dir through a file or without permission is the user's to fix, not a bug; nothing is written yet.
    if ((err as NodeJS.ErrnoException).code === undefined) throw err
    throw new UserError('BAD_INPUT', `cannot create --certs-dir ${opts.dir}: ${writeFailure(err)}; nothing was written`, 'give a directory path you can write')
  }
  try {
    // The key first and 0600 from its creation: there is no moment it is readable by others.
    writeFileSync(files.key, pair.keyPem, {mode: 0o600})
    writeFileSync(files.cert, pair.certPem, {mode: 0o644})
  } catch (err) {
    // A --certs-dir that exists but is not writable (another user's, read-only) was a bug's exit 1.
    if ((err as NodeJS.ErrnoException).code === undefined) throw err
    throw new UserError('BAD_INPUT', `cannot write the certificate into --certs-dir ${opts.dir}: ${writeFailure(err)}`, 'give a directory path you can write')
  }
  return {...files, commonName, notAfter: new Date(opts.now.getTime() + opts.days * 86_400_000).toISOString()}
}
