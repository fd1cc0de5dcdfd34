import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {createCa, issueCertificate, type LeafKind, type PemPair} from '../../src/transport/certificateAuthority.js'

/** PkiFiles are the PEM files of one issued certificate. */
export interface PkiFiles {
  cert: string
  key: string
  ca: string
}

/**
 * DataPlanePki is a throwaway cluster PKI in a temp dir, made with the product's own
 * certificate code (src/transport/certificateAuthority.ts): a CA plus whatever leaves a test
 * asks for, including broken ones (expired, wrong host, other CA).
 */
export class DataPlanePki {
  readonly dir = mkdtempSync(join(tmpdir(), 'shardctl-dp-pki-'))
  readonly caFile: string
  private constructor(readonly ca: PemPair) {
    this.caFile = this.write('ca.crt', ca.certPem)
  }

  /** create makes the CA. */
  static async create(name = 'shardctl-test-ca'): Promise<DataPlanePki> {
    return new DataPlanePki(await createCa(name, {notBefore: new Date(Date.now() - 60_000), days: 2}))
  }

  /** issue writes `<name>.crt`/`<name>.key`; `expired` makes one that ended yesterday. */
  async issue(name: string, kind: LeafKind, hosts: string[] = ['127.0.0.1', 'localhost'], opts: {expired?: boolean} = {}): Promise<PkiFiles> {
    const notBefore = opts.expired ? new Date(Date.now() - 3 * 86_400_000) : new Date(Date.now() - 60_000)
    const pair = await issueCertificate(this.ca, {kind, commonName: name, hosts, validity: {notBefore, days: 1}})
    return {cert: this.write(`${name}.crt`, pair.certPem), key: this.write(`${name}.key`, pair.keyPem), ca: this.caFile}
  }

  /** write puts `text` in the PKI dir and returns its path. */
  write(file: string, text: string): string {
    const p = join(this.dir, file)
    writeFileSync(p, text, {mode: 0o600})
    return p
  }

  /** remove deletes the directory. Idempotent. */
  remove(): void {
    rmSync(this.dir, {recursive: true, force: true})
  }
}

/** tlsEnvOf is the environment that hands `files` to a `node serve` or `router serve` child. */
export function tlsEnvOf(files: PkiFiles): Record<string, string> {
  return {SHARDCTL_TLS_CERT: files.cert, SHARDCTL_TLS_KEY: files.key, SHARDCTL_TLS_CA: files.ca}
}
