import {getControl} from '../cluster/clusterRepo.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {formatBytes} from '../model/units.js'
import {updateControl} from './controlService.js'

/**
 * settleStoredThrottle decides, as an executor run starts (its lock held), what becomes of a
 * byte rate a `throttle set` left in the control record, and returns the line the run says
 * about it (undefined: there was none).
 *
 * `throttle set` overrides the running executor's rate live, and the override stays in etcd
 * after that run ends. A run given a global rate of its own (`--throttle RATE` or `auto`,
 * `throttleGiven`) clears it: the rate the operator gives now is newer than one given to an
 * earlier run (before, `apply --throttle 1MiB/s` ran at a 64 KiB/s set for the last run,
 * and `--throttle auto` never adapted). A run given none (`apply --resume`, the autopilot)
 * keeps it, and says so: a resume after a crash goes on at the rate the operator had slowed
 * the interrupted run to, not unlimited. A `throttle set` during the run overrides it as before.
 */
export async function settleStoredThrottle(ctx: ServiceContext, throttleGiven: boolean): Promise<string | undefined> {
  const stored = (await getControl(ctx))?.throttleBytesPerSec ?? null
  if (stored === null) return undefined
  const rate = `${formatBytes(stored)}/s`
  if (!throttleGiven) return `throttle ${rate} from an earlier \`throttle set\` holds (this run has no --throttle of its own; \`shardctl throttle set unset\` hands the rate back to --throttle)`
  const r = await updateControl(ctx, (c) => ({...c, throttleBytesPerSec: c.throttleBytesPerSec === stored ? null : c.throttleBytesPerSec}))
  // Changed meanwhile by a `throttle set` that raced this start: that one is newer, it holds.
  if (r.control.throttleBytesPerSec !== null) return `throttle ${formatBytes(r.control.throttleBytesPerSec)}/s from a \`throttle set\` holds (set as this run started)`
  return `cleared the throttle of ${rate} an earlier \`throttle set\` left: this run's --throttle holds`
}
