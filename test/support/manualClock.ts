/**
 * ManualClock is a fake clock for tests of what schedules its own work through injected
 * `now` and `startTimer` options (HintQueue and its reference model, ApplyBatcher): a timer fires only
 * inside {@link ManualClock.advance}, in time order, and what it started (deliveries and
 * their promises) settles before the next one fires, so a test sees each step's effects.
 */
export class ManualClock {
  now = 0
  private timers: {at: number; fn: () => void; live: boolean}[] = []

  /** startTimer runs `fn` once the clock has been advanced `ms` past now; the function it returns cancels it. */
  readonly startTimer = (fn: () => void, ms: number): (() => void) => {
    const t = {at: this.now + ms, fn, live: true}
    this.timers.push(t)
    return () => (t.live = false)
  }

  /** pendingTimers is how many timers are still set: neither fired nor cancelled. */
  pendingTimers(): number {
    return this.timers.filter((t) => t.live).length
  }

  /** advance moves the clock forward `ms`, firing due timers in order and letting what they started settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms
    for (;;) {
      await settle()
      const next = this.timers.filter((t) => t.live && t.at <= end).sort((a, b) => a.at - b.at)[0]
      if (!next) break
      next.live = false
      this.now = Math.max(this.now, next.at)
      next.fn()
    }
    this.timers = this.timers.filter((t) => t.live)
    this.now = end
    await settle()
  }
}

/** settle gives the promise chains and setImmediate callbacks started so far a few event-loop turns to run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
}
