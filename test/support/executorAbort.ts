import {setTimeout as sleepFor} from 'node:timers/promises'
import {afterEach} from 'vitest'

/** RunningExecutor is an in-process executor a test started: its abort switch and its end. */
export interface RunningExecutor {
  abort: AbortController
  done: Promise<unknown>
}

/**
 * abortExecutorAfterEach makes every test end with its executor stopped: `take` hands over
 * (and forgets) the one the test started, which is aborted and awaited for at most 60 s, so a
 * timed-out test never leaves the executor lock held or a shard mid-move for the next test.
 */
export function abortExecutorAfterEach(take: () => RunningExecutor | undefined): void {
  afterEach(async () => {
    const r = take()
    if (!r) return
    r.abort.abort()
    const stopped = await Promise.race([r.done.then(() => true), sleepFor(60_000, false, {ref: false})])
    if (!stopped) throw new Error('the executor the test started did not stop within 60 s of its abort')
  }, 90_000)
}

/**
 * ExecutorsOfTest tracks the in-process executors a test file starts and aborts each test's
 * when the test ends (registered with {@link abortExecutorAfterEach} on construction). `start`
 * runs one under a signal that also fires when the test's own `signal` (if any) does.
 */
export class ExecutorsOfTest {
  private running: RunningExecutor[] = []

  constructor() {
    abortExecutorAfterEach(() => {
      const all = this.running
      this.running = []
      if (all.length === 0) return undefined
      const abort = new AbortController()
      abort.signal.addEventListener('abort', () => {
        for (const r of all) r.abort.abort()
      })
      return {abort, done: Promise.allSettled(all.map((r) => r.done))}
    })
  }

  /** start runs `executor` with a signal aborted at the test's end or when `signal` aborts. */
  start<T>(executor: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const abort = new AbortController()
    const done = executor(signal ? AbortSignal.any([signal, abort.signal]) : abort.signal)
    this.running.push({abort, done})
    return done
  }
}
