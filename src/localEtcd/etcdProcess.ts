import {type ChildProcess, spawn} from 'node:child_process'
import {closeSync, openSync, readFileSync} from 'node:fs'
import {request as httpRequest} from 'node:http'
import {request as httpsRequest} from 'node:https'
import {join} from 'node:path'
import {UserError} from '../errors/errors.js'
import {findEtcdBinary} from './etcdBinary.js'
import {freePort} from './freePort.js'
import {portHeldBy} from './portOwner.js'
import {makeDirectories} from '../fs/makeDirectories.js'

/** EtcdTls is the server-side TLS material for a local etcd. */
export interface EtcdTls {
  certFile: string
  keyFile: string
  caFile: string
  /** clientCertAuth makes etcd require a client certificate signed by `caFile`. */
  clientCertAuth: boolean
}

/** StartEtcdOptions configures {@link startEtcd}. */
export interface StartEtcdOptions {
  dataDir: string
  name?: string
  clientPort?: number
  peerPort?: number
  tls?: EtcdTls
  /** detached: the etcd outlives this process (for `shardctl etcd start`). */
  detached?: boolean
  /** readyTimeoutMs bounds the wait for /health (default 20 s). */
  readyTimeoutMs?: number
  extraArgs?: string[]
}

/** EtcdProcess is a running local etcd. */
export interface EtcdProcess {
  endpoint: string
  pid: number
  clientPort: number
  peerPort: number
  dataDir: string
  logFile: string
  /** stop sends SIGTERM, then SIGKILL after 5 s; resolves when the process is gone. Idempotent. */
  stop(): Promise<void>
  /** restart stops and starts etcd again on the same ports and data (for resume tests). */
  restart(): Promise<void>
}

/**
 * startEtcd starts a single-member etcd on 127.0.0.1 with free ports (unless given) and
 * resolves once its /health endpoint answers. Throws MISSING_DEPENDENCY without an etcd
 * binary, or INTERNAL with the tail of etcd's log when it fails to become healthy.
 */
export async function startEtcd(opts: StartEtcdOptions): Promise<EtcdProcess> {
  const bin = findEtcdBinary()
  makeDirectories(opts.dataDir)
  const logFile = join(opts.dataDir, 'etcd.log')
  let lastError: unknown
  for (let attempt = 0; attempt < 4; attempt++) {
    const clientPort = opts.clientPort ?? (await freePort())
    const peerPort = opts.peerPort ?? (await freePort())
    try {
      return await launch(bin, {...opts, clientPort, peerPort}, logFile)
    } catch (err) {
      lastError = err
      // A fixed port that fails will fail again; free ports may have been taken in a race.
      if (opts.clientPort !== undefined && opts.peerPort !== undefined) break
    }
  }
  throw lastError
}

async function launch(bin: string, opts: StartEtcdOptions & {clientPort: number; peerPort: number}, logFile: string): Promise<EtcdProcess> {
  const scheme = opts.tls ? 'https' : 'http'
  const name = opts.name ?? 'shardctl-dev'
  const clientUrl = `${scheme}://127.0.0.1:${opts.clientPort}`
  const peerUrl = `http://127.0.0.1:${opts.peerPort}`
  const args = [
    `--name=${name}`,
    `--data-dir=${join(opts.dataDir, 'data')}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=${name}=${peerUrl}`,
    '--initial-cluster-state=new',
    '--logger=zap',
    `--log-outputs=${logFile}`,
    '--log-level=warn',
    ...(opts.tls ? [`--cert-file=${opts.tls.certFile}`, `--key-file=${opts.tls.keyFile}`, `--trusted-ca-file=${opts.tls.caFile}`, `--client-cert-auth=${opts.tls.clientCertAuth}`] : []),
    ...(opts.extraArgs ?? []),
  ]
  const out = openSync(logFile, 'a')
  let child: ChildProcess
  try {
    child = spawn(bin, args, {detached: opts.detached ?? false, stdio: ['ignore', out, out]})
  } finally {
    closeSync(out)
  }
  if (opts.detached) child.unref()
  let exited = false
  child.once('exit', () => {
    exited = true
  })
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 20_000)
  // Healthy and ours: another etcd (another test's, a dev's) may answer /health on a port that
  // was free when it was chosen, while this child exits on "address already in use" (and the
  // start is tried again on other ports). Undefined (no /proc to tell): its health is taken.
  while (!(await healthy(clientUrl, opts.tls)) || portHeldBy(child.pid!, opts.clientPort) === false) {
    if (exited || Date.now() > deadline) {
      if (!exited) child.kill('SIGKILL')
      throw new UserError('INTERNAL', `etcd did not become healthy on ${clientUrl}: ${logTail(logFile)}`, `see ${logFile}`)
    }
    await sleep(100)
  }
  const pid = child.pid!
  let stopped: Promise<void> | undefined
  const handle: EtcdProcess = {
    endpoint: clientUrl,
    pid,
    clientPort: opts.clientPort,
    peerPort: opts.peerPort,
    dataDir: opts.dataDir,
    logFile,
    stop() {
      stopped ??= exited ? Promise.resolve() : killAndWait(child)
      return stopped
    },
    async restart() {
      await handle.stop()
      const next = await launch(bin, opts, logFile)
      // Keep this restart (not next's): next.restart would update next's handle, not this one,
      // so a second restart would leave `handle` stopping an already-stopped process.
      Object.assign(handle, {pid: next.pid, stop: next.stop})
    },
  }
  return handle
}

/** healthy tells whether etcd at `url` answers /health with health "true". */
export function healthy(url: string, tls?: EtcdTls): Promise<boolean> {
  return new Promise((resolve) => {
    const opts = tls ? {ca: readFileSync(tls.caFile), cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile)} : {}
    const req = (tls ? httpsRequest : httpRequest)(`${url}/health`, {...opts, timeout: 1000}, (res) => {
      let body = ''
      res.on('data', (c) => (body += c))
      res.on('end', () => resolve(res.statusCode === 200 && body.includes('true')))
    })
    req.on('error', () => resolve(false))
    req.on('timeout', () => {
      req.destroy()
      resolve(false)
    })
    req.end()
  })
}

function killAndWait(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

function logTail(file: string): string {
  try {
    const lines = readFileSync(file, 'utf8').trim().split('\n')
    return (lines[lines.length - 1] ?? '').slice(0, 300)
  } catch {
    return 'no log'
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
