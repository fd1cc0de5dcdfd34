import {type ChildProcess, spawn} from 'node:child_process'
import {closeSync, openSync, readFileSync, readSync, fstatSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {UserError} from '../errors/errors.js'

/** ROOT is the package root (this file runs from dist/src/demo/). */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const BIN = `${ROOT}bin/run.js`
const REAPER = fileURLToPath(new URL('./orphanReaper.js', import.meta.url))

/** DemoChild is one process the demo started. */
export interface DemoChild {
  name: string
  pid: number
  /** logFile is where it writes its stdout and stderr. */
  logFile: string
  /** output is the tail of what it printed (stdout and stderr), for error messages. */
  output(): string
  /** printed is everything it printed so far, from the start (its ready line: demoReady.ts). */
  printed(): string
  /** exited is true once the process is gone. */
  exited(): boolean
}

/** ChildSetOptions: where children log, and whether they may outlive the demo. */
export interface ChildSetOptions {
  /** tag is put in every child's environment as SHARDCTL_DEMO, so they can be found (tests, `demo stop`). */
  tag: string
  /** logDir receives one `<name>.log` per child. */
  logDir: string
  /**
   * detached starts children in their own session, unreferenced (for `demo --keep`): they
   * must outlive the demo, so neither a terminal's Ctrl-C nor the demo's exit may reach
   * them. Their output goes to files either way: a pipe to a process that exited would
   * break their writes.
   */
  detached: boolean
}

/**
 * ChildSet starts the demo's processes (shardctl node/router serve from this package's
 * bin/) and stops them all: `stopAll` sends SIGTERM, then SIGKILL after `graceMs`. Every
 * pid is also handed to an orphan guard process (see orphanReaper.ts), so children die
 * even when the demo itself is SIGKILLed; `killNow` is the synchronous last resort for an
 * exit hook; `release` lets them live on (`demo --keep`).
 */
export class ChildSet {
  private readonly children: {child: ChildProcess; info: DemoChild; gone: Promise<void>}[] = []
  private readonly reaper: ChildProcess

  constructor(private readonly opts: ChildSetOptions) {
    this.reaper = spawn(process.execPath, [REAPER], {stdio: ['pipe', 'ignore', 'ignore'], detached: true})
    this.reaper.unref()
    ;(this.reaper.stdin as unknown as {unref?: () => void}).unref?.()
    this.reaper.stdin!.on('error', () => {})
  }

  /** guardDir asks the orphan guard to remove `dir` if the demo dies without cleaning up. */
  guardDir(dir: string): void {
    this.reaper.stdin!.write(`dir ${dir}\n`)
  }

  /** guard hands an already running pid (etcd) to the orphan guard. */
  guard(pid: number): void {
    this.reaper.stdin!.write(`${pid}\n`)
  }

  /** shardctl spawns `shardctl args...` (stdout and stderr to `<logDir>/<name>.log`) and guards it. */
  shardctl(name: string, args: string[]): DemoChild {
    const logFile = join(this.opts.logDir, `${name.replace(/[^A-Za-z0-9_-]+/g, '-')}.log`)
    const fd = openSync(logFile, 'a')
    let child: ChildProcess
    try {
      child = spawn(process.execPath, [BIN, ...args], {cwd: ROOT, stdio: ['ignore', fd, fd], detached: this.opts.detached, env: {...process.env, NODE_OPTIONS: '', SHARDCTL_DEMO: this.opts.tag}})
    } finally {
      closeSync(fd)
    }
    if (child.pid === undefined) throw new UserError('INTERNAL', `could not start ${name}`)
    if (this.opts.detached) child.unref()
    let gone = false
    const exit = new Promise<void>((resolve) => child.once('exit', () => ((gone = true), resolve())))
    const info: DemoChild = {name, pid: child.pid, logFile, output: () => tailOf(logFile, 4096), printed: () => wholeOf(logFile), exited: () => gone}
    this.children.push({child, info, gone: exit})
    this.guard(child.pid)
    return info
  }

  /** list is every child started, running or not. */
  list(): DemoChild[] {
    return this.children.map((c) => c.info)
  }

  /** stopAll stops every child (SIGTERM, SIGKILL after `graceMs`) and waits for them. */
  async stopAll(graceMs = 3000): Promise<void> {
    await Promise.all(
      this.children.map(async ({child, info, gone}) => {
        if (info.exited()) return
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
        await gone
        clearTimeout(timer)
      }),
    )
  }

  /** killNow SIGKILLs every child still running (synchronous: safe in an exit hook). */
  killNow(): void {
    for (const {child, info} of this.children) if (!info.exited()) child.kill('SIGKILL')
  }

  /** release tells the orphan guard the demo is done with its children (stopped, or kept on purpose) and lets it exit without killing anything. */
  release(): void {
    if (!this.reaper.stdin!.destroyed) this.reaper.stdin!.end('done\n')
  }
}

/** tailOf is the last `bytes` of `file` as text ('' when it cannot be read). */
function tailOf(file: string, bytes: number): string {
  let fd: number | undefined
  try {
    fd = openSync(file, 'r')
    const size = fstatSync(fd).size
    const len = Math.min(size, bytes)
    const buf = Buffer.alloc(len)
    readSync(fd, buf, 0, len, size - len)
    return buf.toString('utf8')
  } catch {
    return ''
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

/** wholeOf is `file`'s text ('' when it cannot be read). */
function wholeOf(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}
