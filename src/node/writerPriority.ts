import {readFileSync} from 'node:fs'
import {getPriority, setPriority} from 'node:os'

/**
 * WRITER_BACKGROUND_NICE is how much the storage writer thread's nice value rises while it
 * commits background work (a copy slice, a tombstone purge, a range drop) and no client
 * write waits for it. The writer is the busiest thread of a destination during a copy
 * (bench/README.md, "where the copy's CPU goes"), and at its normal priority it takes a
 * full share of the cores from the threads serving clients (event loops, routers).
 * SHARDCTL_WRITER_BACKGROUND_NICE (an integer 0..19; 0 turns it off) overrides it, for
 * measuring both ways on one machine.
 */
export const WRITER_BACKGROUND_NICE = writerBackgroundNice(process.env.SHARDCTL_WRITER_BACKGROUND_NICE)

/** writerBackgroundNice reads the override: unset or empty is 10; anything that is not an integer 0..19 is 0 (off). */
export function writerBackgroundNice(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return 10
  const n = Number(value)
  return Number.isInteger(n) && n >= 0 && n <= 19 ? n : 0
}

/** CAP_SYS_NICE is the capability bit that lets a process lower any of its threads' nice values. */
const CAP_SYS_NICE = 23n

/**
 * mayRestoreNice says whether this process may set a thread's nice value back down to
 * `base` after raising it: with CAP_SYS_NICE in its effective set (`/proc/self/status`
 * CapEff), or where RLIMIT_NICE (`/proc/self/limits`, soft limit r: nice may go down to
 * 20 - r) reaches `base`. Without either, Linux refuses the way back, and a writer left at
 * a high nice value would slow every later client commit, so the caller must not raise it.
 * Unreadable or unexpected text answers false.
 */
export function mayRestoreNice(status: string, limits: string, base: number): boolean {
  const cap = /^CapEff:\s*([0-9a-f]+)\s*$/im.exec(status)?.[1]
  if (cap !== undefined && (BigInt(`0x${cap}`) >> CAP_SYS_NICE) & 1n) return true
  const soft = /^Max nice priority\s+(\d+)\s/im.exec(limits)?.[1]
  return soft !== undefined && 20 - Number(soft) <= base
}

/** PriorityIo is the system access WriterPriority needs (replaced in tests). */
export interface PriorityIo {
  getPriority: (tid: number) => number
  setPriority: (tid: number, nice: number) => void
  /** mayRestore answers {@link mayRestoreNice} for this process. */
  mayRestore: (base: number) => boolean
}

export const systemPriorityIo: PriorityIo = {
  getPriority,
  setPriority,
  mayRestore: (base) => {
    try {
      return mayRestoreNice(readFileSync('/proc/self/status', 'utf8'), readFileSync('/proc/self/limits', 'utf8'), base)
    } catch {
      return false
    }
  },
}

/**
 * WriterPriority sets the storage writer thread's nice value from the main thread: `by`
 * above its starting value while it commits background work with no client write queued,
 * its starting value otherwise. StorageWriter calls {@link background} with that answer when
 * it posts a request, and with false as soon as a client write queues behind background
 * work in flight, so a client never waits on a commit running at the lowered priority
 * (priority inheritance, by hand). A syscall happens only on a change.
 *
 * It turns itself off for good (the thread left at its starting value) where the process
 * may not lower the value again (see {@link mayRestoreNice}), or on any refused call: a
 * copy at normal priority is still correct, only harder on client latency.
 */
export class WriterPriority {
  private readonly base: number
  private current: number
  private off: string | undefined

  constructor(
    private readonly tid: number,
    private readonly by: number,
    private readonly io: PriorityIo = systemPriorityIo,
  ) {
    this.base = 0
    this.current = 0
    if (!Number.isInteger(by) || by <= 0) {
      this.off = 'turned off (nice increment 0)'
      return
    }
    try {
      this.base = io.getPriority(tid)
      this.current = this.base
    } catch (err) {
      this.off = `getpriority(${tid}) failed: ${(err as Error).message}`
      return
    }
    if (this.base + by > 19) this.off = `the writer already runs at nice ${this.base}`
    else if (!io.mayRestore(this.base)) this.off = 'the process may not lower a nice value again (no CAP_SYS_NICE, RLIMIT_NICE too low)'
  }

  /** disabled says why this does nothing, or undefined when it works. */
  get disabled(): string | undefined {
    return this.off
  }

  /** nice is the value last set on the thread. */
  get nice(): number {
    return this.current
  }

  /** background lowers the thread's priority (true) or restores it (false). */
  background(lowered: boolean): void {
    if (this.off) return
    const want = lowered ? this.base + this.by : this.base
    if (want === this.current) return
    try {
      this.io.setPriority(this.tid, want)
      this.current = want
    } catch (err) {
      this.off = `setpriority(${this.tid}, ${want}) failed: ${(err as Error).message}`
      // Try once to leave the thread where clients need it; if that fails too, nothing more can be done here.
      if (this.current !== this.base) {
        try {
          this.io.setPriority(this.tid, this.base)
          this.current = this.base
        } catch {
          // already reported through `disabled`
        }
      }
    }
  }
}
