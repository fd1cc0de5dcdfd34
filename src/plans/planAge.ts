import {UserError} from '../errors/errors.js'
import {type Plan} from '../model/plan.js'

/**
 * refuseOldPlan (pure) throws UserError(CONFLICT, exit 7, as for a stale plan) when `plan` was
 * made more than `maxAgeMs` before `nowMs`. A plan is a picture of the cluster at one moment,
 * and a signature never expires: without a bound, a plan signed last month whose epochs happen
 * to still match runs today on load nobody reviewed. `apply` and `plan verify` take the bound
 * as `--max-plan-age`. Age counts from `createdAt`, when `shardctl plan` computed it (a plan
 * made from a `--snapshot` file sees a cluster older still). A `createdAt` that is not a time
 * is refused (BAD_INPUT, exit 2): its age cannot be judged. A plan dated ahead of this clock (the
 * planning machine's clock ahead) counts as made now.
 */
export function refuseOldPlan(plan: Pick<Plan, 'id' | 'createdAt'>, maxAgeMs: number, nowMs: number): void {
  const made = Date.parse(plan.createdAt)
  if (Number.isNaN(made)) throw new UserError('BAD_INPUT', `plan ${plan.id}: createdAt "${plan.createdAt}" is not a time, so --max-plan-age cannot judge its age; nothing was changed`, 'compute a fresh plan with `shardctl plan` (it writes an ISO 8601 createdAt)')
  const age = Math.max(0, nowMs - made)
  if (age <= maxAgeMs) return
  throw new UserError('CONFLICT', `plan ${plan.id} was made ${formatAge(age)} ago (${plan.createdAt}), more than --max-plan-age ${formatAge(maxAgeMs)} allows; nothing was recorded or changed`, 'compute (and sign) a fresh plan with `shardctl plan`, or raise --max-plan-age')
}

const UNITS: readonly (readonly [string, number])[] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
]

/** formatAge writes a duration in its two largest units, rounded down: `3h 12m`, `2d 1h`, `45s`; below a second, `850ms` (none: `0s`). */
export function formatAge(ms: number): string {
  const parts: string[] = []
  let rest = Math.floor(ms)
  for (const [unit, size] of UNITS) {
    if (parts.length === 2) break
    const n = Math.floor(rest / size)
    // Once a larger unit is written, the next one is written even at 0 (`2h 0m`), so the reader sees the precision.
    if (n > 0 || parts.length === 1) parts.push(`${n}${unit}`)
    rest -= n * size
  }
  if (parts.length > 0) return parts.join(' ')
  return rest === 0 ? '0s' : `${rest}ms`
}
