import {type Alive} from '../model/node.js'

/**
 * identityClaim decides whether a starting (or re-registering) node process may claim its
 * node id, i.e. publish the leased `alive/<id>` under its own lease. One id must be served by
 * one process: a second `node serve --id n1` that took over alive/n1 (and the record's
 * address) would send n1's traffic to an empty impostor. But a node restarted after SIGKILL
 * finds its dead predecessor's alive/<id> still held until that lease expires, and must
 * come back at once, so the mere presence of the key decides nothing: the holder is asked.
 *
 * Pure: the I/O (reading the key, probing the holder, waiting, the conditional put) is in
 * identityGuard.ts.
 */

/** AliveHolder is the alive/<id> key found in etcd: its value (undefined: it failed validation), lease and mod revision. */
export interface AliveHolder {
  value: Alive | undefined
  lease: string
  modRevision: bigint
}

/**
 * HolderProbe is what the holder's published address said to `GET /healthz`:
 * `answered` a health answer (the node id and instance it runs as; `stopping`: it is shutting
 * down, still holding its lease until its in-flight writes are done); `refused` the connection
 * was refused (nothing listens there: the holder is dead); `silent` anything else that
 * proves nothing (a timeout, a reset, a TLS failure, an answer that is not a node's health:
 * the holder may be frozen, partitioned or overloaded).
 */
export type HolderProbe = {kind: 'answered'; node: string; instance?: string; stopping?: boolean} | {kind: 'refused'} | {kind: 'silent'; detail: string}

/** ClaimInput is what {@link decideClaim} decides from. */
export interface ClaimInput {
  /** node is the id this process serves; instance its own instance id (random per process). */
  node: string
  instance: string
  /** held is alive/<id> as read now (undefined: absent). */
  held: AliveHolder | undefined
  /** probe is the holder's answer, once asked (undefined: not asked yet). */
  probe?: HolderProbe
  /** lapseWaited: this same key (same mod revision) already outlived a wait for its lease to lapse. */
  lapseWaited: boolean
  /**
   * recovering: this process served the id and is re-registering after its lease lapsed. Its
   * alive/<id> is then absent or its own; another process's there claimed the id after this
   * one lost it (see `superseded` in {@link decideClaim}).
   */
  recovering?: boolean
}

/**
 * ClaimStep is the next step: `claim` (put alive/<id> only if its mod revision is still
 * `expectModRevision`, 0n = absent), `probe` the holder at `address`, `wait` for the holder's
 * lease to lapse (then read again; `stopping`: for a holder shutting down to revoke it), or
 * `refuse` (another process serves the id: `running` when it answered as itself,
 * `unresponsive` when it did not answer and its lease outlived the wait, `stopping` when it
 * said it shuts down but still held the key after the wait; `superseded` when a recovering
 * process finds another process's claim).
 */
export type ClaimStep =
  | {kind: 'claim'; expectModRevision: bigint; why: 'absent' | 'own' | 'dead' | 'moved'}
  | {kind: 'probe'; address: string}
  | {kind: 'wait'; why: string; stopping?: true}
  | {kind: 'refuse'; why: 'running' | 'unresponsive' | 'stopping' | 'superseded'; detail?: string}

/**
 * decideClaim: absent → claim; written by this very process (its instance: a lapsed lease
 * being replaced) → claim; otherwise ask the holder: answering as that node and instance →
 * refuse (it runs), unless it says it is stopping: then wait for its key to go (a graceful
 * stop revokes its lease once its in-flight writes are done, and only then closes its
 * listener), and refuse if it still holds it after the wait; connection refused, or
 * something else answering there → claim over the dead holder's key (the compare on its mod
 * revision makes two such claimers race safely);
 * no usable answer → wait for the lease to lapse, and refuse if it outlives the wait.
 * An alive value that fails validation cannot be probed: it is treated as silent.
 *
 * Re-registering (`recovering`), another process's key means this one was superseded, and it
 * is refused whether or not that process still answers: it claimed the id while this one
 * was frozen or cut off past its lease and acknowledged writes into its own data dir. Taking
 * the id back once that process died (its address refuses: `dead`) would serve a data dir
 * without those writes and refuse that process's restart (exit 8) for as long as this one runs.
 */
export function decideClaim(input: ClaimInput): ClaimStep {
  const {held, probe} = input
  if (!held) return {kind: 'claim', expectModRevision: 0n, why: 'absent'}
  const alive = held.value
  if (alive?.instance !== undefined && alive.instance === input.instance) return {kind: 'claim', expectModRevision: held.modRevision, why: 'own'}
  if (input.recovering) return {kind: 'refuse', why: 'superseded'}
  if (alive && !probe) return {kind: 'probe', address: alive.address}
  if (alive && probe?.kind === 'answered') {
    // This very process answering (it already listens on the holder's old address: a restart
    // on the same port) proves the holder gone, whatever build wrote the record.
    if (probe.instance === input.instance) return {kind: 'claim', expectModRevision: held.modRevision, why: 'moved'}
    if (answersAsHolder(input.node, alive, probe)) {
      // A holder shutting down still acknowledges its in-flight writes: the id is free only
      // once its key is gone. Waiting for that is friendlier than refusing a restart.
      if (!probe.stopping) return {kind: 'refuse', why: 'running'}
      return input.lapseWaited ? {kind: 'refuse', why: 'stopping'} : {kind: 'wait', why: 'it is shutting down', stopping: true}
    }
    return {kind: 'claim', expectModRevision: held.modRevision, why: 'moved'}
  }
  if (alive && probe?.kind === 'refused') return {kind: 'claim', expectModRevision: held.modRevision, why: 'dead'}
  const detail = !alive ? 'its alive record is not valid' : probe?.kind === 'silent' ? probe.detail : 'no answer'
  if (input.lapseWaited) return {kind: 'refuse', why: 'unresponsive', detail}
  return {kind: 'wait', why: detail}
}

/**
 * answersAsHolder: the answer comes from the process that wrote `alive`. Same node id and
 * same instance; when either side has no instance (a build from before instances were
 * published) the node id alone decides, which errs towards refusing.
 */
export function answersAsHolder(node: string, alive: Alive, answer: {node: string; instance?: string}): boolean {
  if (answer.node !== node || alive.node !== node) return false
  if (alive.instance === undefined || answer.instance === undefined) return true
  return alive.instance === answer.instance
}

/** LAPSE_MARGIN_MS: etcd revokes expired leases on a 500 ms tick and a leader change can extend them: slack over the TTL. */
export const LAPSE_MARGIN_MS = 2000

/**
 * lapseWaitMs bounds the wait for a silent holder's lease to lapse: its TTL (published in
 * its alive record; absent: `fallbackTtlSeconds`, this process's own) plus half of it, at
 * least {@link LAPSE_MARGIN_MS}. A live holder keeps the lease forever, so past this the
 * claim is refused rather than waited on.
 */
export function lapseWaitMs(alive: Alive | undefined, fallbackTtlSeconds: number): number {
  const ttlMs = (alive?.leaseTtlSeconds ?? fallbackTtlSeconds) * 1000
  return ttlMs + Math.max(LAPSE_MARGIN_MS, ttlMs / 2)
}

/** describeHolder names the process holding alive/<id> for a refusal: pid, address and start time. */
export function describeHolder(held: AliveHolder): string {
  const a = held.value
  if (!a) return `an unreadable alive record under lease ${held.lease}`
  return `pid ${a.pid} at ${a.address} (registered ${a.startedAt})`
}
