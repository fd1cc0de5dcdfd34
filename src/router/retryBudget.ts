/**
 * RetryBudget bounds how often a request may be retried after a fencing refusal
 * (STALE_EPOCH / NOT_OWNER: refresh the map, then retry): at most `attempts` retries and
 * never past `deadline` (an absolute time from the injected clock). A routine epoch change
 * needs one retry; a map that keeps changing under a request ends in an error rather than
 * a loop.
 */
export class RetryBudget {
  private used = 0

  constructor(
    private readonly attempts: number,
    private readonly deadline: number,
    private readonly now: () => number,
  ) {}

  /** take consumes one retry; false when the budget is spent or the deadline has passed. */
  take(): boolean {
    if (this.used >= this.attempts || this.now() >= this.deadline) return false
    this.used++
    return true
  }

  /** retries is how many retries were taken. */
  get retries(): number {
    return this.used
  }

  /** remainingMs is the time left before the deadline (0 when past it). */
  remainingMs(): number {
    return Math.max(0, this.deadline - this.now())
  }
}
