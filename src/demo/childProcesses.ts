import {type ChildProcess, spawn} from 'node:child_process'
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
  /** output is the tail of what it printed (stdout and stderr), for error messages. */
  output(): string
  /** exited is true once the process is gone. */
  exited(): boolean
}

/**
 * ChildSet starts the demo's processes (shardctl node/router serve from this package's
 * bin/) and stops them all: `stopAll` sends SIGTERM, then SIGKILL after `graceMs`. Every
 * pid is also handed to an orphan guard process (see orphanReaper.ts), so children die
 * even when the demo itself is SIGKILLed; `killNow` is the synchronous last resort for an
 * exit hook.
 */
export class ChildSet {
  private readonly children: {child: ChildProcess; info: DemoChild; gone: Promise<void>}[] = []
  private readonly reaper: ChildProcess

  /** tag is put in every child's environment as SHARDCTL_DEMO, so they can be found (tests, operators). */
  constructor(private readonly tag: string) {
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

  /** shardctl spawns `shardctl args...` (stdout+stderr kept, last 4 KiB) and guards it. */
  shardctl(name: string, args: string[], onStdout?: (text: string) => void): DemoChild {
    const child = spawn(process.execPath, [BIN, ...args], {cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: {...process.env, NODE_OPTIONS: '', SHARDCTL_DEMO: this.tag}})
    if (child.pid === undefined) throw new UserError('INTERNAL', `could not start ${name}`)
    let out = ''
    let gone = false
    const keep = (d: Buffer) => {
      out = (out + d.toString()).slice(-4096)
    }
    child.stdout!.on('data', (d: Buffer) => {
      keep(d)
      onStdout?.(d.toString())
    })
    child.stderr!.on('data', keep)
    const exit = new Promise<void>((resolve) => child.once('exit', () => ((gone = true), resolve())))
    const info: DemoChild = {name, pid: child.pid, output: () => out, exited: () => gone}
    this.children.push({child, info, gone: exit})
    this.guard(child.pid)
    return info
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

  /** release tells the orphan guard everything was stopped cleanly and lets it exit. */
  release(): void {
    if (!this.reaper.stdin!.destroyed) this.reaper.stdin!.end('done\n')
  }
}
