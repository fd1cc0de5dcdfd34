import {type ServiceContext} from '../cluster/serviceContext.js'
import {UserError, errorMessage} from '../errors/errors.js'
import {AliveSchema} from '../model/node.js'
import {type AliveHolder, type HolderProbe, decideClaim, describeHolder, lapseWaitMs} from './identityClaim.js'
import {NodeClient} from './nodeClient.js'
import {isNodeRequestError} from './nodeRequestError.js'
import {type NodeLog} from './nodeLog.js'

/** PROBE_TIMEOUT_MS bounds the holder's /healthz answer: a live node answers it in milliseconds (no storage, no etcd). */
export const PROBE_TIMEOUT_MS = 2000

/** LAPSE_POLL_MS: how often alive/<id> is read again while waiting for a silent holder's lease to lapse. */
const LAPSE_POLL_MS = 250

/** IdentityGuardOptions configure {@link resolveIdentityClaim}. */
export interface IdentityGuardOptions {
  node: string
  /** instance is this process's random id (published in its alive/<id> and on /healthz). */
  instance: string
  /** leaseTtlSeconds is this process's --lease-ttl: the wait bound for a holder that published none. */
  leaseTtlSeconds: number
  log: NodeLog
  /** abort stops a wait (start-up interrupted by a signal): resolveIdentityClaim then throws `onAbort()`. */
  abort?: AbortSignal
  onAbort?: () => Error
  /** recovering: re-registering after this process's lease lapsed; another process's claim then throws {@link Superseded}. */
  recovering?: boolean
  /**
   * onHolderStopped: a holder that said it was shutting down gave up alive/<id> while this
   * process waited. It closes its listener right after: a restart on its --listen port may
   * find the port still taken for a moment.
   */
  onHolderStopped?: () => void
  /** probe asks the holder's address (default {@link probeHolder}; injected by tests). */
  probe?: (address: string) => Promise<HolderProbe>
}

/**
 * resolveIdentityClaim reads alive/<id> and, as {@link decideClaim} says, probes its holder
 * and waits for its lease to lapse, until the id may be claimed: it returns the mod revision
 * alive/<id> must still have for the claim (0n: absent), which the caller's put compares on,
 * so that two processes starting at once cannot both win. Throws UserError LOCK_HELD (exit 8)
 * naming the holder when another process serves the id.
 */
export async function resolveIdentityClaim(ctx: ServiceContext, opts: IdentityGuardOptions): Promise<bigint> {
  const probe = opts.probe ?? ((address: string) => probeHolder(address, opts.node))
  // lapseWaited holds for the mod revision that outlived a wait: a new registration meanwhile is judged afresh.
  let waitedOut: bigint | undefined
  for (;;) {
    const held = await readHolder(ctx, opts.node)
    const input = {node: opts.node, instance: opts.instance, held, lapseWaited: held !== undefined && held.modRevision === waitedOut, recovering: opts.recovering}
    let step = decideClaim(input)
    if (step.kind === 'probe') step = decideClaim({...input, probe: await probe(step.address)})
    switch (step.kind) {
      case 'claim':
        if (step.why === 'dead' || step.why === 'moved') opts.log.info(`alive/${opts.node} is left by a process that is gone: taking it over`, {holder: describeHolder(held!), why: step.why === 'dead' ? 'connection refused' : 'another process answers at its address'})
        return step.expectModRevision
      case 'refuse':
        throw refusal(ctx, opts.node, held!, step.why, step.detail)
      case 'wait': {
        const waitMs = lapseWaitMs(held!.value, opts.leaseTtlSeconds)
        if (step.stopping) opts.log.info(`alive/${opts.node} is held by ${describeHolder(held!)}, which is shutting down: waiting up to ${waitMs} ms for it to finish its in-flight writes and give up its lease before taking over`, {lease: held!.lease})
        else opts.log.warn(`alive/${opts.node} is held by ${describeHolder(held!)}, which does not answer (${step.why}): waiting up to ${waitMs} ms for its lease to lapse before taking over, so a frozen or partitioned node is not doubled`, {lease: held!.lease})
        const lapsed = await waitForChange(ctx, opts, held!, waitMs)
        if (!lapsed) waitedOut = held!.modRevision
        else if (step.stopping) opts.onHolderStopped?.()
        continue
      }
      case 'probe':
        throw new Error('decideClaim asked for a second probe')
    }
  }
}

/** readHolder reads alive/<id>; a value that fails validation is returned with `value` undefined. */
export async function readHolder(ctx: ServiceContext, node: string): Promise<AliveHolder | undefined> {
  const kv = await ctx.store.get(ctx.keys.alive(node))
  if (!kv) return undefined
  let value: AliveHolder['value']
  try {
    const parsed = AliveSchema.safeParse(JSON.parse(kv.value))
    value = parsed.success ? parsed.data : undefined
  } catch {
    value = undefined
  }
  return {value, lease: kv.lease, modRevision: kv.modRevision}
}

/**
 * probeHolder asks `address` for /healthz (no token; over TLS when this process dials with
 * it: setDefaultClientTls), bounded by {@link PROBE_TIMEOUT_MS}, and classifies the outcome
 * as {@link HolderProbe}. Only a refused connection counts as `refused`: a timeout or reset
 * may be a frozen or unreachable process, which must not be doubled.
 */
export async function probeHolder(address: string, node: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<HolderProbe> {
  const client = new NodeClient({node, address, token: '', connections: 1, timeoutMs})
  try {
    const h = await client.health({timeoutMs, signal: AbortSignal.timeout(timeoutMs + 500)})
    return {kind: 'answered', node: h.node, ...(h.instance ? {instance: h.instance} : {}), ...(h.stopping ? {stopping: true} : {})}
  } catch (err) {
    if (isNodeRequestError(err, 'NODE_UNREACHABLE') && connectionRefused(err.cause)) return {kind: 'refused'}
    return {kind: 'silent', detail: errorMessage(err)}
  } finally {
    await client.destroy().catch(() => {})
  }
}

/** connectionRefused: ECONNREFUSED anywhere in the cause chain (undici wraps socket errors differently by version). */
function connectionRefused(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as {cause?: unknown}).cause, depth++) {
    if ((e as {code?: unknown}).code === 'ECONNREFUSED') return true
    const errors = (e as {errors?: unknown}).errors
    if (Array.isArray(errors) && errors.length > 0 && errors.every((x) => (x as {code?: unknown}).code === 'ECONNREFUSED')) return true
  }
  return false
}

/** waitForChange polls alive/<id> until it is no longer `held` (deleted or registered again: true) or `waitMs` passed (false). */
async function waitForChange(ctx: ServiceContext, opts: IdentityGuardOptions, held: AliveHolder, waitMs: number): Promise<boolean> {
  const deadline = Date.now() + waitMs
  while (Date.now() < deadline) {
    if (opts.abort?.aborted) throw opts.onAbort?.() ?? new Error('aborted')
    // Not unref'd: before the node listens this timer may be all that keeps the process alive
    // (it exited silently in the middle of the wait when it was unref'd).
    await new Promise((r) => setTimeout(r, LAPSE_POLL_MS))
    const now = await ctx.store.get(ctx.keys.alive(opts.node))
    if (!now || now.modRevision !== held.modRevision) return true
  }
  return false
}

/**
 * Superseded (LOCK_HELD, exit 8): a process re-registering after its lease lapsed found its
 * node id claimed by another process meanwhile. It must stop for good, not retry: see decideClaim.
 */
export class Superseded extends UserError {}

function refusal(ctx: ServiceContext, node: string, held: AliveHolder, why: 'running' | 'unresponsive' | 'stopping' | 'superseded', detail: string | undefined): UserError {
  const holder = describeHolder(held)
  if (why === 'superseded') {
    return new Superseded('LOCK_HELD', `node ${node} is served by another process now in cluster "${ctx.cluster}": ${holder} claimed alive/${node} after this process's lease lapsed (it was frozen or cut off from etcd); this process stops without serving again, since that process acknowledged writes this one's data dir lacks`, `leave node ${node} to that process; if it is gone, restart it (its data dir has those writes), not this one`)
  }
  if (why === 'running') {
    return new UserError('LOCK_HELD', `node ${node} is already running in cluster "${ctx.cluster}": ${holder} holds alive/${node} and answers as it; this process changed nothing`, `stop that process first (or restart it instead of starting a second one); to run another node, \`shardctl node add\` it and pass its --id`)
  }
  if (why === 'stopping') {
    return new UserError('LOCK_HELD', `node ${node} is still shutting down in cluster "${ctx.cluster}": ${holder} holds alive/${node} and answers that it is stopping, but did not give up its lease within the wait; this process changed nothing`, `wait for that process to exit (its --shutdown-timeout bounds its in-flight requests), then start again`)
  }
  return new UserError('LOCK_HELD', `node ${node} may still be running in cluster "${ctx.cluster}": ${holder} holds alive/${node} under a live lease but does not answer (${detail ?? 'no answer'}; frozen or partitioned?); this process changed nothing`, `stop that process (SIGKILL it if it is frozen) or wait for its lease to lapse, then start again`)
}
