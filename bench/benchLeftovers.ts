import type {ChildProcess} from 'node:child_process'
import {rmSync} from 'node:fs'

/**
 * BenchLeftovers collects the processes and directories a bench starts, so that one call
 * removes them all at the end; the processes are also SIGKILLed if the bench exits early
 * (an uncaught error, Ctrl-C), so no bench leaks a node, router or etcd.
 */
export class BenchLeftovers {
  readonly children: ChildProcess[] = []
  readonly dirs: string[] = []

  constructor() {
    process.on('exit', () => this.killChildren())
  }

  /** killChildren SIGKILLs every process started so far (safe to call twice). */
  killChildren(): void {
    for (const c of this.children) c.kill('SIGKILL')
  }

  /** release kills every child, stops etcd, then deletes every directory. */
  async release(etcd: {stop(): Promise<unknown>}): Promise<void> {
    this.killChildren()
    await etcd.stop()
    for (const d of this.dirs) rmSync(d, {recursive: true, force: true})
  }
}
