import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync, statSync} from 'node:fs'
import {fileURLToPath} from 'node:url'
import {trackPid, untrackPid} from '../../support/processReaper.js'

const root = fileURLToPath(new URL('../../../', import.meta.url))

const BUILT = ['commands/router/serve', 'src/router/routerService', 'src/router/coordinator', 'src/router/routerHttp', 'src/router/shardMapView', 'src/repair/repairService', 'commands/repair']

/** assertRouterDistFresh fails clearly when dist/ is older than the router sources (`npm test` builds first). */
export function assertRouterDistFresh(): void {
  for (const m of BUILT) {
    const built = `${root}dist/${m}.js`
    const src = `${root}${m}.ts`
    if (existsSync(src) && (!existsSync(built) || statSync(built).mtimeMs < statSync(src).mtimeMs)) {
      throw new Error(`dist/${m}.js is missing or older than ${m}.ts: run \`npm run build\` (npm test does it for you)`)
    }
  }
}

/** RouterProcess is a running `shardctl router serve` child. */
export interface RouterProcess {
  pid: number
  address: string
  logs(): string
  stdout(): string
  exited: Promise<number | string>
  signal(sig: NodeJS.Signals): void
  kill(): Promise<void>
}

/**
 * startRouterProcess spawns `router serve --listen 127.0.0.1:0` and resolves once it has
 * printed its address and /healthz says it serves (bounded by `readyTimeoutMs`).
 */
export async function startRouterProcess(opts: {endpoint: string; cluster: string; id: string; extra?: string[]}, readyTimeoutMs = 20_000): Promise<RouterProcess> {
  assertRouterDistFresh()
  const args = [`${root}bin/run.js`, 'router', 'serve', '--endpoints', opts.endpoint, '--cluster', opts.cluster, '--id', opts.id, '--listen', '127.0.0.1:0', ...(opts.extra?.includes('--lease-ttl') ? [] : ['--lease-ttl', '3']), ...(opts.extra ?? [])]
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
  const proc: RouterProcess = {
    pid: child.pid!,
    address: '',
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
    if (gone) throw new Error(`router ${opts.id} exited before serving (${await exited}): ${stderr.slice(-2000)}`)
    const m = / on (127\.0\.0\.1:\d+)/.exec(stdout)
    if (m) {
      proc.address = m[1]!
      try {
        const res = await fetch(`http://${proc.address}/healthz`, {signal: AbortSignal.timeout(1000)})
        if (res.ok) return proc
      } catch {
        // not ready yet
      }
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  await proc.kill()
  throw new Error(`router ${opts.id} did not serve within ${readyTimeoutMs} ms: ${stderr.slice(-2000)}`)
}
