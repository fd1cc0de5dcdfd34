/**
 * FailureStreak decides which failures of one periodic task are worth a log line. A task
 * that fails every interval for the same reason (a full disk, etcd out of reach) would
 * otherwise write the same warning once a second for as long as the cause lasts, burying
 * the lines an operator needs. The first failure is logged; a repeat of the same message
 * is logged again only after `repeatEveryMs` (with how many were held back); a different
 * message is logged at once; the first success after a streak says it recovered. Pure: the
 * caller passes the time.
 */
export interface StreakLine {
  level: 'warn' | 'info'
  /** failures in the streak so far, this one included (on recovery: the streak's length). */
  failures: number
  /** failures since the last line logged that were not logged. */
  suppressed: number
}

export class FailureStreak {
  private failures = 0
  private suppressed = 0
  private lastMessage: string | undefined
  private lastLoggedAt = 0

  constructor(private readonly repeatEveryMs = 60_000) {}

  /** failed records a failure with `message` at `now`; returns the line to log, or undefined to stay quiet. */
  failed(message: string, now: number): StreakLine | undefined {
    this.failures++
    if (this.failures > 1 && message === this.lastMessage && now - this.lastLoggedAt < this.repeatEveryMs) {
      this.suppressed++
      return undefined
    }
    const line: StreakLine = {level: 'warn', failures: this.failures, suppressed: this.suppressed}
    this.lastMessage = message
    this.lastLoggedAt = now
    this.suppressed = 0
    return line
  }

  /** succeeded ends a streak; returns the recovery line when one was running, else undefined. */
  succeeded(): StreakLine | undefined {
    if (this.failures === 0) return undefined
    const line: StreakLine = {level: 'info', failures: this.failures, suppressed: this.suppressed}
    this.failures = 0
    this.suppressed = 0
    this.lastMessage = undefined
    return line
  }
}
