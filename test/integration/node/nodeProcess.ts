import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync, statSync} from 'node:fs'
import {fileURLToPath} from 'node:url'
import {trackPid, untrackPid} from '../../support/processReaper.js'

const root = fileURLToPath(new URL('../../../', import.meta.url))

/** Sources the spawned `node serve` runs from dist/; each must be built from the current source. */
const BUILT = ['commands/node/serve', 'src/node/storageNode', 'src/node/nodeHttpApi', 'src/node/storageEngine', 'src/node/shardMapFollower']

/** assertNodeDistFresh fails clearly when dist/ is older than the node sources (`npm test` builds first). */
export function assertNodeDistFresh(): void {
  for (const m of BUILT) {
    const built = `${root}dist/${m}.js`
    const src = `${root}${m}.ts`
    if (!existsSync(built) || statSync(built).mtimeMs < statSync(src).mtimeMs) {
      throw new Error(`dist/${m}.js is missing or older than ${m}.ts: run \`npm run build\` (npm test does it for you)`)
    }
  }
}

/** NodeProcessOptions are the flags of one `shardctl node serve` child. */
export interface NodeProcessOptions {
  endpoint: string
  cluster: string
  id: string
  port: number
  dataDir: string
  extra?: string[]
}

/** NodeProcess is a running `shardctl node serve` child. */
export interface NodeProcess {
  pid: number
  address: string
  /** logs is everything the child wrote to stderr so far (JSON lines). */
  logs(): string
  /** stdout is everything the child wrote to stdout so far. */
  stdout(): string
  /** exited resolves with the exit code (or signal name) once the child is gone. */
  exited: Promise<number | string>
  /** signal sends `sig` to the child. */
  signal(sig: NodeJS.Signals): void
  /** kill SIGKILLs the child and waits for it (idempotent). */
  kill(): Promise<void>
}

/**
 * startNodeProcess spawns `node bin/run.js node serve ...` and resolves once /healthz says
 * it serves (bounded: rejects after `readyTimeoutMs`, killing the child, with its stderr).
 */
export async function startNodeProcess(opts: NodeProcessOptions, readyTimeoutMs = 45_000): Promise<NodeProcess> {
  assertNodeDistFresh()
  const args = [
    `${root}bin/run.js`, 'node', 'serve',
    '--endpoints', opts.endpoint, '--cluster', opts.cluster,
    '--id', opts.id, '--listen', `127.0.0.1:${opts.port}`, '--data-dir', opts.dataDir,
    '--stats-interval', '300ms', '--lease-ttl', '3s',
    ...(opts.extra ?? []),
  ]
  const child: ChildProcess = spawn(process.execPath, args, {cwd: root, env: {PATH: process.env.PATH, HOME: process.env.HOME}, stdio: ['ignore', 'pipe', 'pipe']})
  trackPid(child.pid)
  let stderr = ''
  let stdout = ''
  child.stderr!.on('data', (d) => (stderr += d))
  child.stdout!.on('data', (d) => (stdout += d))
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, sig) => {
      untrackPid(child.pid)
      resolve(code ?? sig ?? 'unknown')
    }),
  )
  let gone = false
  void exited.then(() => (gone = true))
  const address = `127.0.0.1:${opts.port}`
  const proc: NodeProcess = {
    pid: child.pid!,
    address,
    logs: () => stderr,
    stdout: () => stdout,
    exited,
    signal: (sig) => {
      if (!gone) child.kill(sig)
    },
    kill: async () => {
      if (!gone) child.kill('SIGKILL')
      await exited
    },
  }
  const deadline = Date.now() + readyTimeoutMs
  while (Date.now() < deadline) {
    if (gone) throw new Error(`node ${opts.id} exited before serving (${await exited}): ${stderr.slice(-2000)}`)
    try {
      const res = await fetch(`http://${address}/healthz`, {signal: AbortSignal.timeout(1000)})
      if (res.ok && ((await res.json()) as {serving: boolean}).serving) return proc
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  await proc.kill()
  throw new Error(`node ${opts.id} did not serve within ${readyTimeoutMs} ms: ${stderr.slice(-2000)}`)
}
