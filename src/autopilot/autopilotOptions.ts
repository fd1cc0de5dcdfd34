import {UserError} from '../errors/errors.js'
import {parseDecimal} from '../model/units.js'
import {DEFAULT_PLAN_OPTIONS} from '../planner/options.js'
import {planOptionsFromFlags, type PlanFlagValues} from '../plans/planService.js'
import {type AutopilotPolicy} from './decide.js'

/** PolicyFlagValues are the raw policy flags of `shardctl autopilot` (durations already in ms). */
export interface PolicyFlagValues extends Pick<PlanFlagValues, 'maxImbalance' | 'maxMoves' | 'minImprovement' | 'weights'> {
  deadAfterMs: number
  rebalanceAbove: string
  forMs: number
  coolDownMs: number
  maxBytesPerHour?: number
}

/**
 * policyFromFlags turns the flags into an {@link AutopilotPolicy}. Throws UserError BAD_INPUT
 * naming the flag when a value is malformed, and when `--rebalance-above` is not above the
 * planner's target band (`--max-imbalance`): a plan stopping above its own trigger would
 * start the next plan at once, and the loop would flap.
 */
export function policyFromFlags(f: PolicyFlagValues): AutopilotPolicy {
  const planOptions = planOptionsFromFlags({maxImbalance: f.maxImbalance, maxMoves: f.maxMoves, minImprovement: f.minImprovement, weights: f.weights}, 'autopilot')
  const above = parseDecimal(f.rebalanceAbove)
  if (!Number.isFinite(above) || above <= 1) throw new UserError('BAD_INPUT', `--rebalance-above: must be a ratio above 1 (largest node utilisation over the mean), got "${f.rebalanceAbove}"`, 'e.g. --rebalance-above 1.2')
  const target = planOptions.maxImbalance ?? DEFAULT_PLAN_OPTIONS.maxImbalance
  if (above <= target) throw new UserError('BAD_INPUT', `--rebalance-above ${above} must be above the planner's target --max-imbalance ${target}: otherwise every plan stops at or above its own trigger and the autopilot flaps`, `e.g. --rebalance-above ${(target + 0.1).toFixed(2)}`)
  if (f.deadAfterMs <= 0) throw new UserError('BAD_INPUT', '--dead-after must be above 0', 'e.g. --dead-after 5m')
  if (f.maxBytesPerHour !== undefined && f.maxBytesPerHour <= 0) throw new UserError('BAD_INPUT', '--max-bytes-per-hour must be above 0', 'e.g. --max-bytes-per-hour 50GiB, or leave it out for no budget')
  return {deadAfterMs: f.deadAfterMs, rebalanceAbove: above, forMs: f.forMs, coolDownMs: f.coolDownMs, maxBytesPerHour: f.maxBytesPerHour ?? null, planOptions}
}

/**
 * AUTOPILOT_STOP_WAIT_MS bounds how long a stopping autopilot (SIGTERM) waits for its loop to
 * wind down (the step in flight, the lock's release) before it exits anyway (0, as for any
 * stop): an etcd that does not answer holds each call for its deadline and etcd3's resends,
 * and an executor step may wait on a node that does not answer. With
 * {@link AUTOPILOT_RELEASE_WAIT_MS} and the 1 s exit linger, a stop ends within 11 s.
 */
export const AUTOPILOT_STOP_WAIT_MS = 8_000

/**
 * AUTOPILOT_RELEASE_WAIT_MS bounds how long an autopilot that gave up waiting for its loop
 * releases the locks the loop still holds (its leadership, its executor's lock: heldLocks.ts)
 * on its way out: with a healthy etcd this takes milliseconds and the next `apply --resume` or
 * standby takes the lock at once instead of after its lease's TTL; with etcd frozen it is given
 * up (the locks expire with their leases).
 */
export const AUTOPILOT_RELEASE_WAIT_MS = 2_000
