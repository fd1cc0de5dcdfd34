import {type ChildProcessWithoutNullStreams, execFileSync, spawn} from 'node:child_process'
import {trackPid, untrackPid} from './processReaper.js'

/**
 * Pseudo-terminal helpers for e2e tests that run the real binary as a user at a terminal
 * would (`top`, `demo`, confirmation prompts): util-linux `script` gives the child a pty.
 */

/** HAS_SCRIPT tells whether util-linux `script` is installed (pty tests skip without it). */
export const HAS_SCRIPT: boolean = (() => {
  try {
    execFileSync('script', ['--version'], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
})()

/** screenText strips terminal escapes (colours, cursor moves, charset and screen switches) and carriage returns from pty output. */
export function screenText(raw: string): string {
  // eslint-disable-next-line no-control-regex
  return raw.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\x1b[()][A-Z0-9]/g, '').replace(/\r/g, '')
}

/** PtyRun is a shell command line running in a pseudo-terminal. */
export interface PtyRun {
  child: ChildProcessWithoutNullStreams
  /** raw is everything the terminal received so far (stdout and stderr, escapes included). */
  raw(): string
  /** screen is raw() without escapes. */
  screen(): string
  /** exited resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>
  /** dispose SIGKILLs the child (a no-op once it exited) and stops tracking it. */
  dispose(): void
}

/**
 * spawnPty runs `cmd` (a shell command line, e.g. `stty cols 100 rows 30 && exec …`) under
 * `script` with TERM=xterm-256color, PATH and HOME (`home`, default the runner's) only. The
 * pid is tracked so a crashed runner still kills it; call dispose() in a finally.
 */
export function spawnPty(cmd: string, opts: {cwd?: string; home?: string} = {}): PtyRun {
  const child = spawn('script', ['-qfec', cmd, '/dev/null'], {cwd: opts.cwd, env: {PATH: process.env.PATH, HOME: opts.home ?? process.env.HOME, TERM: 'xterm-256color'}})
  trackPid(child.pid)
  let raw = ''
  child.stdout.on('data', (d) => (raw += d))
  child.stderr.on('data', (d) => (raw += d))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return {
    child,
    raw: () => raw,
    screen: () => screenText(raw),
    exited,
    dispose: () => {
      child.kill('SIGKILL')
      untrackPid(child.pid)
    },
  }
}

/** untilScreen polls `read` every 200 ms until `test` holds; throws naming `what`, with the screen's tail, after `timeoutMs`. */
export async function untilScreen(what: string, read: () => string, test: (s: string) => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (test(read())) return
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`timed out waiting for ${what}; screen so far:\n${read().slice(-3000)}`)
}

/**
 * answerInPty runs a shell command line in a pseudo-terminal (in `cwd`, with it as HOME),
 * answers `answer` once `question` is on the screen, and resolves with the exit code and
 * everything the terminal showed; throws with the screen's tail when the question or the
 * exit does not come within 60 s each.
 */
export async function answerInPty(cwd: string, cmd: string, question: RegExp, answer: string): Promise<{code: number | null; screen: string}> {
  const pty = spawnPty(cmd, {cwd, home: cwd})
  try {
    const deadline = Date.now() + 60_000
    while (!question.test(pty.screen())) {
      if (Date.now() > deadline) throw new Error(`no question on the screen; it shows:\n${pty.screen().slice(-2000)}`)
      await new Promise((r) => setTimeout(r, 100))
    }
    pty.child.stdin.write(answer)
    const code = await Promise.race([pty.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 60_000))])
    if (code === 'timeout') throw new Error(`no exit after the answer; screen:\n${pty.screen().slice(-2000)}`)
    return {code, screen: pty.screen()}
  } finally {
    pty.dispose()
  }
}
