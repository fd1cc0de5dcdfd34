import {existsSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {z} from 'zod'
import {processAlive} from '../daemon/processAlive.js'
import {type ErrorCode} from '../errors/codes.js'
import {makeDirectories} from '../fs/makeDirectories.js'
import {healthy, startEtcd} from './etcdProcess.js'
import {portIsFree} from './freePort.js'

/** LOCAL_DIR is where shardctl keeps development state, relative to the working directory (git-ignored). */
export const LOCAL_DIR = '.shardctl'

const StateSchema = z.object({endpoint: z.string(), pid: z.number().int(), dataDir: z.string(), logFile: z.string(), startedAt: z.string()})

/** LocalEtcdState is what `etcd start` records so later commands find the dev etcd. */
export type LocalEtcdState = z.infer<typeof StateSchema>

/** LocalEtcdStatus is the result of `etcd start|stop|status`. */
export interface LocalEtcdStatus {
  running: boolean
  healthy: boolean
  endpoint: string | null
  pid: number | null
  dataDir: string
  logFile: string | null
  message: string
}

function etcdDir(cwd: string): string {
  return join(cwd, LOCAL_DIR, 'etcd')
}

function statePath(cwd: string): string {
  return join(etcdDir(cwd), 'state.json')
}

// ports.json outlives `etcd stop` (not --purge): the next start reuses the ports, so daemons
// started against the old endpoint (they resolved it once) reconnect instead of being orphaned.
const PortsSchema = z.object({clientPort: z.number().int(), peerPort: z.number().int()})

function portsPath(cwd: string): string {
  return join(etcdDir(cwd), 'ports.json')
}

function readLastPorts(cwd: string): z.infer<typeof PortsSchema> | undefined {
  try {
    return PortsSchema.parse(JSON.parse(readFileSync(portsPath(cwd), 'utf8')))
  } catch {
    return undefined
  }
}

/** readLocalEtcdState returns the recorded dev etcd if its process is still alive, else undefined. */
export function readLocalEtcdState(cwd: string): LocalEtcdState | undefined {
  const path = statePath(cwd)
  if (!existsSync(path)) return undefined
  try {
    const state = StateSchema.parse(JSON.parse(readFileSync(path, 'utf8')))
    return processAlive(state.pid) ? state : undefined
  } catch {
    return undefined
  }
}

/**
 * startLocalEtcd starts a detached single-member etcd with its data under
 * `.shardctl/etcd/` on the ports it had before `etcd stop` (when they are still free), else
 * on free ports, and records its endpoint; when one already runs it
 * reports that instead ("already running"). Throws MISSING_DEPENDENCY without etcd.
 */
export async function startLocalEtcd(cwd: string, clock: () => Date = () => new Date()): Promise<LocalEtcdStatus> {
  const dir = etcdDir(cwd)
  const existing = readLocalEtcdState(cwd)
  if (existing) {
    const ok = await healthy(existing.endpoint)
    return {running: true, healthy: ok, endpoint: existing.endpoint, pid: existing.pid, dataDir: existing.dataDir, logFile: existing.logFile, message: `etcd already running at ${existing.endpoint} (pid ${existing.pid})`}
  }
  makeDirectories(dir)
  const last = readLastPorts(cwd)
  // The last ports when they are still free; else (taken meanwhile) new free ones.
  const reuse = last !== undefined && (await portIsFree(last.clientPort)) && (await portIsFree(last.peerPort))
  const proc = (reuse ? await startEtcd({dataDir: dir, detached: true, ...last}).catch(() => undefined) : undefined) ?? (await startEtcd({dataDir: dir, detached: true}))
  writeFileSync(portsPath(cwd), `${JSON.stringify({clientPort: proc.clientPort, peerPort: proc.peerPort})}\n`)
  const state: LocalEtcdState = {endpoint: proc.endpoint, pid: proc.pid, dataDir: dir, logFile: proc.logFile, startedAt: clock().toISOString()}
  writeFileSync(statePath(cwd), `${JSON.stringify(state, null, 2)}\n`)
  return {running: true, healthy: true, endpoint: proc.endpoint, pid: proc.pid, dataDir: dir, logFile: proc.logFile, message: `etcd started at ${proc.endpoint} (pid ${proc.pid}); data in ${dir}`}
}

/**
 * stopLocalEtcd stops the recorded dev etcd (SIGTERM, SIGKILL after 10 s) and forgets it;
 * `purge` also deletes its data. Stopping a stopped etcd reports "already stopped".
 */
export async function stopLocalEtcd(cwd: string, purge = false): Promise<LocalEtcdStatus> {
  const dir = etcdDir(cwd)
  const state = readLocalEtcdState(cwd)
  let message = 'etcd was already stopped'
  if (state) {
    process.kill(state.pid, 'SIGTERM')
    const deadline = Date.now() + 10_000
    while (processAlive(state.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    if (processAlive(state.pid)) process.kill(state.pid, 'SIGKILL')
    message = `etcd stopped (pid ${state.pid})`
  }
  rmSync(statePath(cwd), {force: true})
  if (purge) {
    rmSync(dir, {recursive: true, force: true})
    message += '; data deleted'
  }
  return {running: false, healthy: false, endpoint: null, pid: null, dataDir: dir, logFile: null, message}
}

/**
 * localEtcdStatusCode is `etcd status`'s verdict for scripts: ETCD_UNREACHABLE (exit 3) when
 * the dev etcd is not running or does not answer /health, undefined when it serves. The
 * status is printed either way; the exit code lets a CI script tell.
 */
export function localEtcdStatusCode(status: Pick<LocalEtcdStatus, 'running' | 'healthy'>): ErrorCode | undefined {
  return status.running && status.healthy ? undefined : 'ETCD_UNREACHABLE'
}

/** localEtcdStatus reports whether the dev etcd runs and answers /health. */
export async function localEtcdStatus(cwd: string): Promise<LocalEtcdStatus> {
  const dir = etcdDir(cwd)
  const state = readLocalEtcdState(cwd)
  if (!state) return {running: false, healthy: false, endpoint: null, pid: null, dataDir: dir, logFile: null, message: 'etcd is not running (start it with `shardctl etcd start`)'}
  const ok = await healthy(state.endpoint)
  return {running: true, healthy: ok, endpoint: state.endpoint, pid: state.pid, dataDir: state.dataDir, logFile: state.logFile, message: `etcd running at ${state.endpoint} (pid ${state.pid})${ok ? '' : ', but not healthy: see ' + state.logFile}`}
}
