import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync, statSync} from 'node:fs'
import {fileURLToPath} from 'node:url'
import {trackPid, untrackPid} from './processReaper.js'

/** REPO_ROOT is the checkout the spawned CLI runs from (its dist/ must be built). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

/**
 * assertDistFresh fails clearly when any of `modules` (paths without extension, relative to
 * the repo) has no dist/ build or one older than its source (`npm test` builds first).
 */
export function assertDistFresh(modules: readonly string[]): void {
  for (const m of modules) {
    const built = `${REPO_ROOT}dist/${m}.js`
    const src = `${REPO_ROOT}${m}.ts`
    if (existsSync(src) && (!existsSync(built) || statSync(built).mtimeMs < statSync(src).mtimeMs)) {
      throw new Error(`dist/${m}.js is missing or older than ${m}.ts: run \`npm run build\` (npm test does it for you)`)
    }
  }
}

/** CliChild is a running `shardctl ...` child process (a node or a router). */
export interface CliChild {
  pid: number
  address: string
  /** logs is everything the child wrote to stderr so far. */
  logs(): string
  /** stdout is everything the child wrote to stdout so far. */
  stdout(): string
  /** exited resolves with the exit code (or signal name) once the child is gone. */
  exited: Promise<number | string>
  /** gone tells whether the child has exited. */
  gone(): boolean
  /** signal sends `sig` to the child (no-op once gone). */
  signal(sig: NodeJS.Signals): void
  /**
   * closeOutput closes this side of the child's stdout and stderr pipes, as a log reader that
   * dies does (a `| tee`, a log shipper): the child's next write fails with EPIPE. What it
   * writes from then on is not in {@link logs}.
   */
  closeOutput(): void
  /** kill SIGKILLs the child and waits for it (idempotent). */
  kill(): Promise<void>
}

/**
 * spawnCli starts `node bin/run.js ...args` with a clean environment (plus `env`, e.g. a
 * libfaketime clock skew from test/support/faketime.ts), tracked by the
 * process reaper so a crashed test run leaves nothing behind.
 */
export function spawnCli(args: readonly string[], env: Record<string, string> = {}): CliChild {
  const child: ChildProcess = spawn(process.execPath, [`${REPO_ROOT}bin/run.js`, ...args], {cwd: REPO_ROOT, env: {PATH: process.env.PATH, HOME: process.env.HOME, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
  trackPid(child.pid)
  let stderr = ''
  let stdout = ''
  let gone = false
  child.stderr!.on('data', (d) => (stderr += d))
  child.stdout!.on('data', (d) => (stdout += d))
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, sig) => {
      gone = true
      untrackPid(child.pid)
      resolve(code ?? sig ?? 'unknown')
    }),
  )
  return {
    pid: child.pid!,
    address: '',
    logs: () => stderr,
    stdout: () => stdout,
    exited,
    gone: () => gone,
    signal: (sig) => {
      if (!gone) child.kill(sig)
    },
    closeOutput: () => {
      child.stdout!.destroy()
      child.stderr!.destroy()
    },
    kill: async () => {
      if (!gone) child.kill('SIGKILL')
      await exited
    },
  }
}
