/**
 * DropBudgetLimits bound the rows one range-drop transaction goes through (see
 * {@link nextDropBudget}): `targetSeconds` is how long one transaction should hold the
 * writer, its commit (WAL write and fsync) included; `minRows` and `maxRows` clamp the budget.
 */
export interface DropBudgetLimits {
  targetSeconds: number
  minRows: number
  maxRows: number
}

/**
 * nextDropBudget is the row budget of a range drop's next transaction, from the last one:
 * it went through `used` rows with a budget of `budget` and held the writer `seconds`,
 * commit included. The budget moves towards the rows that fit `targetSeconds` at the last
 * transaction's cost per row, at most doubling per step (one cheap transaction, e.g. of
 * rows already gone, must not let the next one run long), within [minRows, maxRows].
 *
 * Why the commit counts: deleting rows in table order dirties about one random page of the
 * (hash, key) index per row, so the commit writes about a page per row into the WAL and
 * fsyncs it; that, not the DELETE statements, is most of the time a client write queued
 * behind the transaction waits (a time check inside the transaction cannot see it).
 */
export function nextDropBudget(limits: DropBudgetLimits, budget: number, used: number, seconds: number): number {
  const clamp = (n: number) => Math.max(limits.minRows, Math.min(limits.maxRows, Math.floor(n)))
  if (!(seconds > 0) || used <= 0) return clamp(budget * 2)
  const fits = (limits.targetSeconds * used) / seconds
  return clamp(Math.min(budget * 2, fits))
}
