/** CHAOS_TEST_TIMEOUT_MS is the per-scenario test timeout (chaos.chaos.ts passes it to every scenario's `it`). */
export const CHAOS_TEST_TIMEOUT_MS = 420_000

/**
 * SCENARIO_BUDGET_MS is one scenario's deadline, counted from its start (world start-up
 * included): 20 s inside {@link CHAOS_TEST_TIMEOUT_MS}, for tearing the world down.
 */
export const SCENARIO_BUDGET_MS = CHAOS_TEST_TIMEOUT_MS - 20_000

/**
 * TAIL_RESERVE_MS is the part of a scenario's budget kept after its `inject` for the
 * harness: finishing the moves, repair and the history checks (20-40 s on a slow run when
 * the moves are done).
 */
export const TAIL_RESERVE_MS = 90_000

/** REPAIR_RESERVE_MS is the part kept after the harness's own wait for the moves: repair and the checks. */
export const REPAIR_RESERVE_MS = 60_000

/**
 * Deadline is one scenario's time budget: a moment by which its waits must be over. Each
 * wait takes {@link Deadline.budget} (its own cap, or what is left, whichever is smaller),
 * so waits whose caps add up past the suite's per-test timeout still end in time, and the
 * scenario fails with its own text, not as a vitest timeout with no message. Pure: time is
 * read through the injected `now`.
 */
export class Deadline {
  private constructor(
    /** at is the deadline (ms, same clock as `now`). */
    readonly at: number,
    /** totalMs is the whole budget, for messages. */
    readonly totalMs: number,
    private readonly now: () => number,
  ) {}

  /** in makes a deadline `totalMs` from now. */
  static in(totalMs: number, now: () => number = Date.now): Deadline {
    return new Deadline(now() + totalMs, totalMs, now)
  }

  /** before is a deadline `reserveMs` earlier than this one (same total, for messages): the part of the budget that leaves `reserveMs` for what follows. */
  before(reserveMs: number): Deadline {
    return new Deadline(this.at - reserveMs, this.totalMs, this.now)
  }

  /** leftMs is what remains of the budget (never negative). */
  leftMs(): number {
    return Math.max(0, this.at - this.now())
  }

  /** budget is the time one wait may take: its own cap `capMs`, or what is left if less (0 once the deadline passed). */
  budget(capMs: number): number {
    return Math.min(capMs, this.leftMs())
  }

  /**
   * within says how long a wait given `budgetMs` (from {@link budget} with cap `capMs`)
   * was allowed, for a failure message: "60 s", or, when the deadline cut it short,
   * "12 s (all that was left of the scenario's 300 s)".
   */
  within(budgetMs: number, capMs: number): string {
    const s = `${Math.round(budgetMs / 1000)} s`
    return budgetMs < capMs ? `${s} (all that was left of the scenario's ${Math.round(this.totalMs / 1000)} s)` : s
  }
}
