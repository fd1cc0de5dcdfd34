import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync, statSync} from 'node:fs'
import {createInterface} from 'node:readline'
import {fileURLToPath} from 'node:url'
import {trackPid, untrackPid} from './processReaper.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const script = fileURLToPath(new URL('./children/holder.mjs', import.meta.url))

/** Modules the holder child loads from dist/; each must be built from the current source. */
const BUILT = ['src/config/connectionConfig', 'src/etcd/etcdStore', 'src/etcd/etcdErrors', 'src/etcd/leaseHandle', 'src/etcd/leaseLock']

/** HolderProcess is a running child that holds a lock or a lease-attached key. */
export interface HolderProcess {
  pid: number
  /** info is the child's ready line (createRevision, lease id). */
  info: Record<string, string>
  /** kill SIGKILLs the child (no cleanup: its lease must expire) and resolves when it is gone. Idempotent. */
  kill(): Promise<void>
}

/**
 * assertDistFresh fails with a clear message when dist/ is missing or older than the source
 * it was built from (`npm test` builds first; a bare `vitest run` after an edit does not).
 */
export function assertDistFresh(): void {
  for (const m of BUILT) {
    const built = `${root}dist/${m}.js`
    const src = `${root}${m}.ts`
    if (!existsSync(built) || statSync(built).mtimeMs < statSync(src).mtimeMs) {
      throw new Error(`dist/${m}.js is missing or older than ${m}.ts: run \`npm run build\` (npm test does it for you)`)
    }
  }
}

/**
 * startHolder spawns test/support/children/holder.mjs in `mode` and resolves once it holds
 * the lock/lease. Rejects with the child's error (its message and code) if it could not.
 */
export async function startHolder(mode: 'lock' | 'lease', endpoint: string, cluster: string, key: string, ttlSeconds: number): Promise<HolderProcess> {
  assertDistFresh()
  const child = spawn(process.execPath, [script, mode, endpoint, cluster, key, String(ttlSeconds)], {stdio: ['pipe', 'pipe', 'inherit']})
  trackPid(child.pid)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({input: child.stdout!})
    rl.once('line', resolve)
    child.once('exit', (code, signal) => reject(new Error(`holder exited (${code ?? signal}) before reporting`)))
    child.once('error', reject)
  })
  const msg = JSON.parse(line) as Record<string, string>
  if (msg.error !== undefined) {
    await exited
    untrackPid(child.pid)
    throw Object.assign(new Error(msg.error), {code: msg.code})
  }
  return {
    pid: child.pid!,
    info: msg,
    kill: () => killChild(child, exited),
  }
}

async function killChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  await exited
  untrackPid(child.pid)
}
