import {getMeta} from '../cluster/clusterRepo.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {isUserError, UserError} from '../errors/errors.js'
import {parseLockHolder} from '../etcd/leaseLock.js'
import {type AutopilotControl, AutopilotControlSchema, autopilotKeys, type AutopilotState, AutopilotStateSchema} from './autopilotState.js'

/** readAutopilotControl returns the pause switch (not paused when never set). */
export async function readAutopilotControl(ctx: ServiceContext): Promise<AutopilotControl> {
  return (await ctx.store.getTyped(autopilotKeys(ctx.keys.prefix).control, AutopilotControlSchema))?.value ?? {paused: false, updatedAt: new Date(0).toISOString()}
}

/**
 * setAutopilotPaused flips the autopilot's pause switch with CAS (retried on a concurrent
 * change). A running autopilot sees it at its next check and starts nothing while paused
 * (moves it already runs go on: `moves pause` stops those). Repeating reports "already".
 * Throws NOT_FOUND for a cluster that does not exist.
 */
export async function setAutopilotPaused(ctx: ServiceContext, paused: boolean): Promise<{control: AutopilotControl; changed: boolean; message: string}> {
  await getMeta(ctx)
  const key = autopilotKeys(ctx.keys.prefix).control
  const word = paused ? 'paused' : 'active (resumed)'
  for (let attempt = 0; attempt < 10; attempt++) {
    const current = await ctx.store.getTyped(key, AutopilotControlSchema)
    if ((current?.value.paused ?? false) === paused) return {control: current?.value ?? {paused, updatedAt: new Date(0).toISOString()}, changed: false, message: `autopilot was already ${word}`}
    const next: AutopilotControl = {paused, updatedAt: ctx.clock().toISOString()}
    try {
      if (current) await ctx.store.update(key, JSON.stringify(next), current.modRevision)
      else await ctx.store.create(key, JSON.stringify(next))
      return {control: next, changed: true, message: `autopilot is now ${word}`}
    } catch (err) {
      if (!isUserError(err, 'CONFLICT') && !isUserError(err, 'ALREADY_EXISTS')) throw err
    }
  }
  throw new UserError('CONFLICT', 'the autopilot control record kept changing; try again')
}

/**
 * checkAutopilotStart is the autopilot's start-up read: the cluster's meta, before it campaigns.
 * Resolves when the cluster exists; throws UserError ETCD_UNREACHABLE (exit 3) when etcd does not
 * answer (refused, frozen, cut off: within the etcd client's deadline and its resends, 15 s by
 * default), naming etcd's endpoints, and NOT_FOUND (exit 1) for a cluster that does not exist;
 * resolves undefined without reading further when `stop` (a SIGTERM) comes first.
 *
 * Why: the loop retries every etcd failure for ever (right for an etcd that goes away while it
 * runs: level-based, nothing is lost), so an autopilot started against an etcd that never
 * answered, or a mistyped --cluster, logged one warning per interval and never ended, where
 * `node serve` and `router serve` fail with exit 3 (or 1) and one line.
 */
export async function checkAutopilotStart(ctx: ServiceContext, stop: Promise<unknown>): Promise<void> {
  const read = getMeta(ctx).then(() => undefined)
  // A stop during the read ends the wait; the read's late failure is not an unhandled rejection.
  read.catch(() => {})
  await Promise.race([read, stop.then(() => undefined)])
}

/** AutopilotStatus is what `autopilot status` reports (its --json output). */
export interface AutopilotStatus {
  cluster: string
  /** leader is the holder of the leadership lock now; null when no autopilot runs. */
  leader: string | null
  paused: boolean
  /** state is the last state a leader recorded; null when no autopilot ever ran. */
  state: AutopilotState | null
}

/** autopilotStatus reads the leader, the pause switch and the recorded state. Throws NOT_FOUND for an unknown cluster, CORRUPT_VALUE for a bad state value. */
export async function autopilotStatus(ctx: ServiceContext): Promise<AutopilotStatus> {
  await getMeta(ctx)
  const keys = autopilotKeys(ctx.keys.prefix)
  const [lock, control, state] = await Promise.all([ctx.store.get(keys.lock), readAutopilotControl(ctx), ctx.store.getTyped(keys.state, AutopilotStateSchema)])
  return {cluster: ctx.cluster, leader: lock ? (parseLockHolder(lock.value)?.holder ?? 'an unreadable holder') : null, paused: control.paused, state: state?.value ?? null}
}

/** renderAutopilotStatus is the human text of {@link autopilotStatus}: leader, switch, next check, last decisions newest first. */
export function renderAutopilotStatus(s: AutopilotStatus, limit = 10): string[] {
  const lines = [`Autopilot of cluster ${s.cluster}: ${s.leader ? `leader ${s.leader}` : 'no autopilot running'}${s.paused ? ' · PAUSED' : ''}${s.state?.dryRun ? ' · dry run' : ''}`]
  if (!s.state) return [...lines, 'no decision recorded yet']
  lines.push(`under-replicated shards: ${s.state.underReplicated} · last check ${s.state.updatedAt} · next check ${s.leader ? (s.state.nextCheckAt ?? '-') : '- (no leader)'}`)
  const down = Object.entries(s.state.history.downSince)
  if (down.length) lines.push(`nodes seen down: ${down.map(([n, at]) => `${n} since ${new Date(at).toISOString()}`).join(', ')}`)
  lines.push('last decisions (newest first):')
  for (const d of [...s.state.decisions].reverse().slice(0, limit)) lines.push(`  ${d.at}  ${d.kind.padEnd(9)} ${d.reason}${d.plan ? ` [${d.plan}]` : ''}${d.outcome ? ` → ${d.outcome}` : ''}`)
  return lines
}
