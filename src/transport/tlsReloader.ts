import {createHash, X509Certificate} from 'node:crypto'
import {watch, type FSWatcher} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {basename, dirname} from 'node:path'
import {loadTlsMaterial, type TlsMaterial, type TlsPaths} from './tlsMaterial.js'

/** TlsReloadEvent is what a reloader reports: names, issuers and fingerprints, never key material. */
export type TlsReloadEvent =
  | {kind: 'reloaded'; summary: TlsSummary}
  /** failed: the files on disk cannot be used (yet): the process keeps serving with what it had. */
  | {kind: 'failed'; message: string}

/** TlsSummary describes loaded material for a log line: who the certificate names, who signed it, and how many CAs are trusted. */
export interface TlsSummary {
  subject: string
  issuer: string
  notAfter: string
  fingerprint: string
  trustedCas: number
}

/** TlsReloaderOptions: the material the process started with, where new material goes, and how often files are polled. */
export interface TlsReloaderOptions {
  initial: TlsMaterial
  /** apply swaps the process over to `tls` (server context, client pools). Called only with material that loaded and checked. */
  apply: (tls: TlsMaterial) => void
  /** report hears every reload and every distinct failure (the same failure is reported once until the files change). */
  report: (event: TlsReloadEvent) => void
  /** pollMs is the poll fallback for file systems whose change events are missed (default 2000). */
  pollMs?: number
  /** signal: reload on this signal too (default SIGHUP; null: none, for in-process use). */
  signal?: NodeJS.Signals | null
}

/** Change events come in bursts (write, then chmod, then the second file): wait this long for the burst to end. */
const SETTLE_MS = 150

/**
 * TlsReloader keeps a daemon's certificate, key and CA bundle in step with the files it
 * was started with, so certificates and CAs rotate without a restart. It watches the
 * files' directories (fs.watch: renames and in-place writes both show up), polls them as a
 * fallback, and reloads on SIGHUP. A reload reads all three files, and applies them only
 * when they differ from the material in use and pass {@link loadTlsMaterial}'s checks
 * (PEM kinds, key matching certificate): a half-written rotation (the new key beside the
 * old certificate) is reported and skipped, and the process keeps what it had until the
 * pair is whole.
 */
export class TlsReloader {
  private digest: string
  private readonly watchers: FSWatcher[] = []
  private poller?: NodeJS.Timeout
  private settle?: NodeJS.Timeout
  private lastFailure = ''
  private running: Promise<void> = Promise.resolve()
  private stopped = false
  private readonly paths: TlsPaths
  private readonly onSignal = (): void => this.schedule(0)

  constructor(private readonly opts: TlsReloaderOptions) {
    this.paths = opts.initial.paths
    this.digest = digestOf(opts.initial)
  }

  /** start begins watching. Idempotent; does nothing when the material has no files (nothing to reload). */
  start(): void {
    if (this.poller || !this.paths.ca) return
    const files = [this.paths.ca, this.paths.cert, this.paths.key].filter((f): f is string => typeof f === 'string')
    for (const dir of new Set(files.map((f) => dirname(f)))) {
      const names = new Set(files.filter((f) => dirname(f) === dir).map((f) => basename(f)))
      try {
        const w = watch(dir, {persistent: false}, (_event, name) => {
          if (name === null || names.has(name.toString())) this.schedule(SETTLE_MS)
        })
        w.on('error', () => w.close()) // the poll still covers this directory
        this.watchers.push(w)
      } catch {
        // fs.watch is unavailable here (some network and container file systems): the poll covers it.
      }
    }
    this.poller = setInterval(() => this.schedule(0), this.opts.pollMs ?? 2000)
    this.poller.unref()
    if (this.opts.signal !== null) process.on(this.opts.signal ?? 'SIGHUP', this.onSignal)
  }

  /**
   * reload reads the files now and applies them when they changed and are usable. Resolves
   * to what happened; never throws (a failure is reported and the old material kept).
   * Concurrent calls run one after another.
   */
  reload(): Promise<'reloaded' | 'unchanged' | 'failed'> {
    const run = this.running.then(() => this.reloadOnce())
    this.running = run.then(() => undefined)
    return run
  }

  /** stop ends watching and polling. Idempotent. */
  stop(): void {
    this.stopped = true
    for (const w of this.watchers) w.close()
    this.watchers.length = 0
    if (this.poller) clearInterval(this.poller)
    if (this.settle) clearTimeout(this.settle)
    this.poller = undefined
    if (this.opts.signal !== null) process.off(this.opts.signal ?? 'SIGHUP', this.onSignal)
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return
    if (this.settle) clearTimeout(this.settle)
    this.settle = setTimeout(() => void this.reload(), delayMs)
    this.settle.unref()
  }

  private async reloadOnce(): Promise<'reloaded' | 'unchanged' | 'failed'> {
    if (this.stopped) return 'unchanged'
    // A cheap look first: most polls find the same bytes and stop here.
    const raw = await readRaw(this.paths)
    if (raw !== undefined && raw === this.digest) return 'unchanged'
    let next: TlsMaterial | undefined
    try {
      next = loadTlsMaterial(this.paths, this.paths.cert ? 'certificate' : 'ca-only')
    } catch (err) {
      return this.fail(err instanceof Error ? err.message : String(err))
    }
    if (!next) return this.fail('the TLS files are no longer configured')
    const summary = summarizeTls(next)
    if (typeof summary === 'string') return this.fail(summary)
    const digest = digestOf(next)
    if (digest === this.digest) return 'unchanged'
    this.opts.apply(next)
    this.digest = digest
    this.lastFailure = ''
    this.opts.report({kind: 'reloaded', summary})
    return 'reloaded'
  }

  private fail(message: string): 'failed' {
    if (message !== this.lastFailure) this.opts.report({kind: 'failed', message: `TLS files not reloaded, still using the previous ones: ${message}`})
    this.lastFailure = message
    return 'failed'
  }
}

/**
 * summarizeTls describes `tls` for a log line (subject, issuer, expiry, fingerprint of
 * its certificate, and the number of CAs trusted), or returns why the PEM cannot be parsed.
 */
export function summarizeTls(tls: TlsMaterial): TlsSummary | string {
  try {
    const cas = caCount(tls.ca)
    if (!tls.cert) return {subject: '', issuer: '', notAfter: '', fingerprint: '', trustedCas: cas}
    const cert = new X509Certificate(tls.cert)
    return {subject: cert.subject.replace(/\n/g, ', '), issuer: cert.issuer.replace(/\n/g, ', '), notAfter: new Date(cert.validTo).toISOString(), fingerprint: cert.fingerprint256, trustedCas: cas}
  } catch (err) {
    return `cannot parse the certificate ${tls.paths.cert ?? tls.paths.ca}: ${err instanceof Error ? err.message : String(err)}`
  }
}

function caCount(bundle: Buffer): number {
  return (bundle.toString('latin1').match(/-----BEGIN CERTIFICATE-----/g) ?? []).length
}

function digestOf(tls: Pick<TlsMaterial, 'ca' | 'cert' | 'key'>): string {
  const h = createHash('sha256')
  for (const part of [tls.ca, tls.cert, tls.key]) h.update(part ?? Buffer.alloc(0)).update('\0')
  return h.digest('hex')
}

// The files' bytes digested as digestOf does, or undefined when one cannot be read right now (mid-rename).
async function readRaw(paths: TlsPaths): Promise<string | undefined> {
  try {
    const [ca, cert, key] = await Promise.all([paths.ca, paths.cert, paths.key].map((p) => (p ? readFile(p) : Promise.resolve(undefined))))
    if (!ca) return undefined
    return digestOf({ca, cert, key})
  } catch {
    return undefined
  }
}
