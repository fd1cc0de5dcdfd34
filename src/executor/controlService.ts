import {type ServiceContext} from '../cluster/serviceContext.js'
import {getMeta} from '../cluster/clusterRepo.js'
import {UserError, isUserError} from '../errors/errors.js'
import {type Control, ControlSchema} from '../model/control.js'
import {formatBytes} from '../model/units.js'
import {engineOf} from '../model/cluster.js'

/**
 * updateControl re-reads the `control` key, applies `mutate` and writes it back with CAS
 * (retried on concurrent change). A running executor follows it within a second. Returns
 * the control and whether it changed (repeating a setting reports "already").
 */
export async function updateControl(ctx: ServiceContext, mutate: (c: Control) => Omit<Control, 'updatedAt'>): Promise<{control: Control; changed: boolean}> {
  await getMeta(ctx)
  for (let attempt = 0; attempt < 10; attempt++) {
    const current = await ctx.store.getTyped(ctx.keys.control, ControlSchema)
    const base: Control = current?.value ?? {paused: false, throttleBytesPerSec: null, updatedAt: new Date(0).toISOString()}
    const wanted = mutate(base)
    if (wanted.paused === base.paused && wanted.throttleBytesPerSec === base.throttleBytesPerSec && (wanted.throttleKeysPerSec ?? null) === (base.throttleKeysPerSec ?? null)) return {control: base, changed: false}
    const next: Control = ControlSchema.parse({...wanted, updatedAt: ctx.clock().toISOString()})
    try {
      if (current) await ctx.store.update(ctx.keys.control, JSON.stringify(next), current.modRevision)
      else await ctx.store.create(ctx.keys.control, JSON.stringify(next))
      return {control: next, changed: true}
    } catch (err) {
      if (!isUserError(err, 'CONFLICT') && !isUserError(err, 'ALREADY_EXISTS')) throw err
    }
  }
  throw new UserError('CONFLICT', 'the control record kept changing; try again')
}

/** setPaused pauses or resumes every move of the cluster's executor. */
export async function setPaused(ctx: ServiceContext, paused: boolean): Promise<{control: Control; changed: boolean; message: string}> {
  const r = await updateControl(ctx, (c) => ({...c, paused}))
  const word = paused ? 'paused' : 'running (resumed)'
  return {...r, message: r.changed ? `moves are now ${word}` : `moves were already ${word}`}
}

/** setThrottle sets the global copy rate in bytes/s (null: back to the executor's --throttle); its message gives the rate in binary units, as the operator typed it. */
export async function setThrottle(ctx: ServiceContext, bytesPerSec: number | null): Promise<{control: Control; changed: boolean; message: string}> {
  if (bytesPerSec !== null && !(bytesPerSec > 0)) throw new UserError('BAD_INPUT', 'the throttle must be a positive rate', 'e.g. shardctl throttle set 50MiB/s, or `unset`')
  const r = await updateControl(ctx, (c) => ({...c, throttleBytesPerSec: bytesPerSec}))
  return {...r, message: r.changed ? `throttle set to ${bytesPerSec === null ? "the executor's --throttle" : describeRate(bytesPerSec, true)}` : `throttle already set to ${bytesPerSec === null ? "the executor's --throttle" : describeRate(bytesPerSec, false)}`}
}

/** describeRate renders a byte rate as `10.0 MiB/s`, with the exact `(10485760 B/s)` beside it when asked and the unit rounded. */
function describeRate(bytesPerSec: number, exact: boolean): string {
  const rounded = `${formatBytes(bytesPerSec)}/s`
  return exact && bytesPerSec >= 1024 ? `${rounded} (${bytesPerSec} B/s)` : rounded
}

/**
 * refuseKeysRateOnKv throws BAD_INPUT on a kv cluster: keys/s limits only redis slot
 * migration, and a kv cluster used to take it and do nothing with it.
 */
export async function refuseKeysRateOnKv(ctx: ServiceContext): Promise<void> {
  if (engineOf((await getMeta(ctx)).value) === 'kv') throw new UserError('BAD_INPUT', `--keys-per-sec applies to redis-engine clusters only, and cluster "${ctx.cluster}" is kv; nothing was changed`, 'limit a kv copy by bytes: shardctl throttle set 50MiB/s')
}

/**
 * setKeysThrottle sets the redis engine's keys per second per move (null: back to the
 * executor's --keys-per-sec); a running executor follows within a second. Throws
 * UserError(BAD_INPUT) for a rate that is not a positive integer.
 */
export async function setKeysThrottle(ctx: ServiceContext, keysPerSec: number | null): Promise<{control: Control; changed: boolean; message: string}> {
  if (keysPerSec !== null && !(Number.isInteger(keysPerSec) && keysPerSec > 0)) throw new UserError('BAD_INPUT', `--keys-per-sec ${keysPerSec} is not a positive whole number`, 'e.g. shardctl throttle set --keys-per-sec 5000, or --keys-per-sec unset')
  if (keysPerSec !== null) await refuseKeysRateOnKv(ctx)
  const r = await updateControl(ctx, (c) => ({...c, throttleKeysPerSec: keysPerSec}))
  return {...r, message: r.changed ? `keys/s set to ${keysPerSec === null ? "the executor's --keys-per-sec" : `${keysPerSec} keys/s`}` : 'keys/s already set to that'}
}
