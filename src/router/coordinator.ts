import {boundedWait} from '../clock/boundedWait.js'
import {type WriteGate} from '../clock/clockOffsetTracker.js'
import {UserError} from '../errors/errors.js'
import {formatHlc, type HybridClock, parseHlc} from '../model/hlc.js'
import {type Shard} from '../model/shard.js'
import {type RequestOptions} from '../node/nodeClient.js'
import {isNodeRequestError} from '../node/nodeRequestError.js'
import {type ApplyKind, type ApplyResponse, type GetResult, type NodeRecord} from '../node/protocol.js'
import {type QuorumSettings, readPlan, writeQuorum, writeSatisfied, writeStillPossible} from './quorum.js'
import {QuorumError, type ReplicaFailure} from './quorumError.js'
import {type ReplicaAnswer, resolveRead} from './readResolution.js'
import {type Hint} from './hintQueue.js'
import {type RepairTask} from './readRepairQueue.js'
import {RetryBudget} from './retryBudget.js'
import {isRetriableRefusal, refusalRetryDelayMs} from './refusalRetry.js'
import {type RoutingTable} from './routingTable.js'
import {DeleteReports} from './deleteOutcome.js'

/** NodeDataApi is the part of NodeClient the coordinator uses (a fake in unit tests). */
export interface NodeDataApi {
  get(shard: number, epoch: number, key: Buffer, opts?: RequestOptions): Promise<GetResult>
  apply(shard: number, epoch: number, records: readonly NodeRecord[], kind?: ApplyKind, opts?: RequestOptions): Promise<ApplyResponse>
}

/** ShardSource is the router's view of the shard map. */
export interface ShardSource {
  /** table is the current routing snapshot. */
  table(): RoutingTable
  /** refresh re-reads shard `id` from etcd (the whole map when its range changed) and resolves once the table reflects it; rejects when etcd cannot be read. */
  refresh(id: number): Promise<void>
}

/** CoordinatorOptions: quorum sizes and the time and retry bounds of one client request. */
export interface CoordinatorOptions {
  quorum: QuorumSettings
  /** nodeTimeoutMs bounds one request to one node. */
  nodeTimeoutMs: number
  /** requestTimeoutMs bounds a client request end to end, retries included. */
  requestTimeoutMs: number
  /** staleRetries is how many map refreshes and retries a fencing refusal may cost one request. */
  staleRetries: number
}

/** CoordinatorHooks observe what the coordinator does (metrics); all optional. */
export interface CoordinatorHooks {
  staleEpochRetry?(shard: number): void
  quorumFailure?(op: 'read' | 'write', shard: number): void
  /** writeReissued: a write lost to a newer version on a replica and was re-issued above it. */
  writeReissued?(shard: number): void
  /**
   * replicaApplyFailed: one replica's apply of a write threw (`reason`: TIMEOUT, or the
   * node's error code: NODE_UNREACHABLE, STALE_EPOCH, ...); `duringMove` when the shard had
   * a learning, joining or outgoing replica (a learner's failures are counted too). Answers that are no ack (a newer version kept) are not failures.
   */
  replicaApplyFailed?(reason: string, duringMove: boolean): void
  /** refusalRetry: a round a replica refused NOT_SERVING is retried after a pause (refusalRetry.ts). */
  refusalRetry?(op: 'read' | 'write', shard: number): void
}

/**
 * MAX_REISSUES bounds how often one client write is re-issued above a newer version a
 * replica reported: each re-issue is above every version seen so far, so only writes
 * racing it on the same key can make it lose again.
 */
export const MAX_REISSUES = 4

/** CoordinatorDeps are the coordinator's injected collaborators. */
export interface CoordinatorDeps {
  map: ShardSource
  /** node returns the data API of node `id`, or undefined when its address is unknown. */
  node(id: string): NodeDataApi | undefined
  clock: HybridClock
  now(): number
  /** sleep waits `ms` (the pause before retrying a refused round); default a timer. */
  sleep?(ms: number): Promise<void>
  /** repair schedules a background read repair; returns false when it was dropped. */
  repair?(task: RepairTask): boolean
  /**
   * hint hands a record a replica missed to the background retry (hinted handoff); returns
   * false when it was dropped. Called once every replica of a write round has answered or
   * failed, and only when at least one replica stored the record.
   */
  hint?(hint: Hint): boolean
  /** writeGate refuses writes while this router's clock is out of the cluster's bound (default: always open). */
  writeGate?: WriteGate
  options: CoordinatorOptions
  hooks?: CoordinatorHooks
}

/** ReadResult is a quorum read's answer: the newest record (value or tombstone) or none. */
export interface ReadResult {
  shard: number
  epoch: number
  record: NodeRecord | undefined
}

/** WriteResult is an acknowledged write: the version it was stored under. */
export interface WriteResult {
  shard: number
  epoch: number
  version: string
  /**
   * removedValue, for a delete: whether the key held a value just before it, as the
   * replicas that stored the tombstone saw it (see deleteRemovedValue); undefined for a put,
   * or when the answer would be a guess (see DeleteReports).
   */
  removedValue?: boolean
}

/**
 * Attempt is one round against a shard's replicas; a failed write round names the newest
 * version that beat it (`newer`), if any, and whether a replica found its tombstone
 * already expired (`expired`): both call for a fresh version, not a re-send.
 */
type Attempt<T> = {ok: true; value: T} | {ok: false; failures: ReplicaFailure[]; fenced: boolean; refused: boolean; needed: string; newer?: string; expired?: boolean}

/**
 * WriteRound is what a write round tells its caller: the replicas that acknowledged it so
 * far, whether any two write quorums of its shard meet, and (a delete's) where each
 * acknowledging replica's report of what the tombstone replaced goes, late answers too.
 */
interface WriteRound {
  acked: ReadonlySet<string>
  quorumsMeet: boolean
  reports?: DeleteReports
}

const FENCING = new Set(['STALE_EPOCH', 'NOT_OWNER'])

/**
 * Coordinator runs quorum reads and writes against a shard's replicas.
 *
 * Writes get an HLC version from the router's clock and go to every write replica (voters,
 * learning, joining, outgoing) at the shard's epoch; they are acknowledged once {@link writeSatisfied}
 * holds (w voters, joint quorum during a move) and fail fast once it no longer can.
 * Reads ask `r` voters (rotating), fall back to the other voters when one fails, return
 * the newest record and queue read repairs for stale answers.
 *
 * A fencing refusal (STALE_EPOCH, NOT_OWNER) that costs the quorum makes the coordinator
 * refresh the shard from etcd and retry against the new map, within a bounded budget
 * (`staleRetries`, `requestTimeoutMs`), so a routine epoch change is invisible to clients.
 * A round that failed because replicas answered NOT_SERVING (a node re-registering after a
 * lapsed lease, or unable to confirm a new epoch with etcd at a move's cutover) is retried
 * after a short, growing pause until the request's deadline (refusalRetry.ts says why that
 * is safe); a refusal that outlasts it is answered 503 as before.
 * Retrying a write re-sends the same version: applies are LWW merges, so a replica that
 * already has it ignores the duplicate.
 *
 * Real-time order: a write is acknowledged only by replicas that stored its version (or
 * already held exactly this record). A replica that keeps a strictly newer version, or
 * another record at this version that wins the LWW tie, reports it (`superseded`); that
 * answer counts against the quorum, the version is observed into the HLC, and the write is re-issued above it (at most {@link MAX_REISSUES} times, within the
 * request's deadline) or fails — it is never acknowledged having lost. With w + w > rf
 * (and joint quorums during moves) every acknowledged write A shares a replica with the
 * quorum of any write B invoked after A's ack, so B either lands above A or is re-issued
 * above it: every later quorum read returns B (or newer), whatever the routers' clocks.
 * Likewise a delete is acknowledged only by replicas that stored its tombstone: one that
 * arrives already past a replica's grace (a retry after a slow refresh) is re-issued with a
 * fresh version, since an ack from a replica that kept nothing would let an older value on
 * another replica win the next read.
 */
export class Coordinator {
  private rotation = 0

  constructor(private readonly deps: CoordinatorDeps) {}

  /** read returns the newest record for `key`. Throws QuorumError, or UserError(NOT_SERVING) when no shard covers the key. */
  async read(key: Buffer): Promise<ReadResult> {
    const budget = this.budget()
    let refusals = 0
    for (;;) {
      const shard = this.route(key)
      const attempt = await this.readOnce(shard, key, budget)
      if (attempt.ok) return attempt.value
      if (attempt.fenced && (await this.refreshForRetry(shard, budget))) continue
      if (attempt.refused && (await this.pauseForRefusal('read', shard, budget, refusals++))) continue
      this.deps.hooks?.quorumFailure?.('read', shard.id)
      throw new QuorumError('read', shard.id, shard.epoch, attempt.needed, attempt.failures)
    }
  }

  /** write stores `value` (null: a tombstone) under `key` at a new HLC version. Throws QuorumError, or UserError(NOT_SERVING) when no shard covers the key. */
  async write(key: Buffer, value: Buffer | null): Promise<WriteResult> {
    const gate = this.deps.writeGate?.() ?? {ok: true}
    if (!gate.ok) throw new UserError('CLOCK_OFFSET', `the router refuses writes: ${gate.reason}`, 'fix the clock of this host (NTP); writes resume by themselves once it is within --max-clock-offset of its peers')
    let record: NodeRecord = {key, version: formatHlc(this.deps.clock.now()), value}
    const budget = this.budget()
    let reissues = 0
    let refusals = 0
    // What this call's tombstones replaced, over every round: the key's state before the delete.
    const reports = value === null ? new DeleteReports() : undefined
    for (;;) {
      const shard = this.route(key)
      reports?.issue(record.version)
      const round: WriteRound = {acked: new Set(), quorumsMeet: false, ...(reports ? {reports} : {})}
      const attempt = await this.writeOnce(shard, record, budget, round)
      if (attempt.ok) {
        const removedValue = reports?.outcome(round.acked, round.quorumsMeet)
        return {shard: shard.id, epoch: shard.epoch, version: record.version, ...(removedValue === undefined ? {} : {removedValue})}
      }
      if ((attempt.newer !== undefined || attempt.expired) && reissues < MAX_REISSUES && budget.remainingMs() > 0) {
        const seen = attempt.newer === undefined ? undefined : parseHlc(attempt.newer)
        if (seen) this.deps.clock.observe(seen)
        record = {key, version: formatHlc(this.deps.clock.now()), value}
        reissues++
        this.deps.hooks?.writeReissued?.(shard.id)
        continue
      }
      if (attempt.fenced && (await this.refreshForRetry(shard, budget))) continue
      // The same record again (a re-send, not a re-issue): see isRetriableRefusal.
      if (attempt.refused && (await this.pauseForRefusal('write', shard, budget, refusals++))) continue
      this.deps.hooks?.quorumFailure?.('write', shard.id)
      throw new QuorumError('write', shard.id, shard.epoch, attempt.needed, attempt.failures)
    }
  }

  private budget(): RetryBudget {
    return new RetryBudget(this.deps.options.staleRetries, this.deps.now() + this.deps.options.requestTimeoutMs, () => this.deps.now())
  }

  private route(key: Buffer): Shard {
    const shard = this.deps.map.table().shardForKey(key)
    if (!shard) throw new UserError('NOT_SERVING', 'no shard covers this key yet (the router has not loaded the shard map)', 'retry in a moment; check `shardctl shard list`')
    return shard
  }

  /**
   * refreshForRetry re-reads `shard` after a fencing refusal; false (answer the refusal) when
   * the budget is spent, etcd cannot be read, or the request's deadline passes first: an etcd
   * that does not answer (frozen, a cut network) costs a read up to its own unary deadline and
   * etcd3's resends, which is no bound on a client request (a 2 s request answered its 503 after
   * 6 s). The read goes on; the next request's refresh queues behind it (FreshReads).
   */
  private async refreshForRetry(shard: Shard, budget: RetryBudget): Promise<boolean> {
    if (!budget.take()) return false
    this.deps.hooks?.staleEpochRetry?.(shard.id)
    try {
      return (await boundedWait(this.deps.map.refresh(shard.id), budget.remainingMs())).done
    } catch {
      return false
    }
  }

  /** pauseForRefusal waits before retry number `retry` of a refused round; false (no wait) when the request's deadline leaves no room for it. */
  private async pauseForRefusal(op: 'read' | 'write', shard: Shard, budget: RetryBudget, retry: number): Promise<boolean> {
    const delayMs = refusalRetryDelayMs(retry, budget.remainingMs())
    if (delayMs === undefined) return false
    this.deps.hooks?.refusalRetry?.(op, shard.id)
    await (this.deps.sleep ?? timerSleep)(delayMs)
    return true
  }

  private timeout(budget: RetryBudget): number {
    return Math.max(1, Math.min(this.deps.options.nodeTimeoutMs, budget.remainingMs()))
  }

  /** writeOnce runs one write round; `round` learns its acknowledging replicas and gets their reports (see WriteRound). */
  private writeOnce(shard: Shard, record: NodeRecord, budget: RetryBudget, round: WriteRound): Promise<Attempt<void>> {
    const q = writeQuorum(shard, this.deps.options.quorum)
    const needed = q.extras.length === 0 ? `${q.w} of ${q.voters.length} voters` : `${q.w} of the old and ${q.w} of the new replica set`
    const acked = new Set<string>()
    round.acked = acked
    // Only when any two write quorums share a voter do the acknowledging replicas include one holding the last acknowledged write.
    round.quorumsMeet = 2 * q.w > q.voters.length
    const failed = new Set<string>()
    const failures: ReplicaFailure[] = []
    let fenced = false
    let refused = false
    let newer: string | undefined
    let expired = false
    const timeoutMs = this.timeout(budget)
    const missed: string[] = []
    let answered = 0
    // Once every target has answered or failed (within timeoutMs of the round's start): hand
    // the replicas whose apply threw to the hint queue, when some replica stored the record.
    // A round that lost to a newer version or an expired tombstone is re-issued or fails as
    // a conflict: its record is not spread further.
    const handOff = () => {
      if (++answered < q.targets.length || missed.length === 0 || acked.size === 0 || newer !== undefined || expired) return
      for (const node of missed) this.deps.hint?.({shard: shard.id, epoch: shard.epoch, node, record})
    }
    return new Promise((resolve) => {
      let done = false
      let succeeded = false
      const settle = () => {
        if (done) return
        if (writeSatisfied(q, acked)) {
          done = true
          succeeded = true
          resolve({ok: true, value: undefined})
        } else if (!writeStillPossible(q, failed)) {
          done = true
          resolve({ok: false, failures, fenced, refused, needed, ...(newer === undefined ? {} : {newer}), ...(expired ? {expired} : {})})
        }
      }
      for (const node of q.targets) {
        const api = this.deps.node(node)
        if (!api) {
          failed.add(node)
          failures.push({node, code: 'NODE_UNREACHABLE', message: `node ${node} has no known address`})
          missed.push(node)
          handOff()
          continue
        }
        api.apply(shard.id, shard.epoch, [record], 'write', {timeoutMs}).then(
          (res) => {
            const answer = replicaWriteAnswer(node, record, res)
            if (answer.kind === 'acked') {
              const prior = res.deletePriors?.find((p) => p.i === 0)
              round.reports?.report(node, prior && {...(prior.version === undefined ? {} : {version: prior.version}), live: prior.live})
              acked.add(node)
            } else {
              if (answer.kind === 'newer' && (newer === undefined || answer.version > newer)) newer = answer.version
              if (answer.kind === 'expired') expired = true
              failed.add(node)
              failures.push(answer.failure)
            }
            settle()
            handOff()
          },
          (err: unknown) => {
            const f = failureOf(node, err)
            if (FENCING.has(f.code)) {
              fenced = true
              if (succeeded) void this.deps.map.refresh(shard.id).catch(() => {}) // acknowledged anyway: still catch up
            }
            if (isRetriableRefusal(err)) refused = true
            failed.add(node)
            failures.push(f)
            missed.push(node)
            this.deps.hooks?.replicaApplyFailed?.(failureReason(f), q.extras.length > 0 || q.learners.length > 0)
            settle()
            handOff()
          },
        )
      }
      for (const node of q.learners) this.teach(shard, node, record, timeoutMs)
      settle()
    })
  }

  /**
   * teach writes `record` to a learning replica (a move's destination while it is filled):
   * not awaited, and whatever it answers changes nothing for the write: not counted (the
   * write is acknowledged by the voters alone), no re-issue above a version only the learner
   * holds, no hint (a hint to the learner could spread a version no quorum acknowledged, and
   * the move's verification carries over what the learner missed). A failure is only counted.
   */
  private teach(shard: Shard, node: string, record: NodeRecord, timeoutMs: number): void {
    const api = this.deps.node(node)
    if (!api) return
    api.apply(shard.id, shard.epoch, [record], 'write', {timeoutMs}).catch((err: unknown) => this.deps.hooks?.replicaApplyFailed?.(failureReason(failureOf(node, err)), true))
  }

  private readOnce(shard: Shard, key: Buffer, budget: RetryBudget): Promise<Attempt<ReadResult>> {
    const plan = readPlan(shard, this.deps.options.quorum, this.rotation++)
    const needed = `${plan.r} of ${plan.order.length} voters`
    const answers: ReplicaAnswer[] = []
    const failures: ReplicaFailure[] = []
    let fenced = false
    let refused = false
    let next = 0
    let inflight = 0
    const timeoutMs = this.timeout(budget)
    return new Promise((resolve) => {
      let done = false
      const finish = () => {
        if (done) return
        if (answers.length >= plan.r) {
          done = true
          resolve({ok: true, value: this.resolved(shard, answers)})
        } else if (answers.length + inflight + (plan.order.length - next) < plan.r) {
          done = true
          resolve({ok: false, failures, fenced, refused, needed})
        }
      }
      const launch = () => {
        while (!done && next < plan.order.length && answers.length + inflight < plan.r) {
          const node = plan.order[next++]!
          const api = this.deps.node(node)
          if (!api) {
            failures.push({node, code: 'NODE_UNREACHABLE', message: `node ${node} has no known address`})
            continue
          }
          inflight++
          api.get(shard.id, shard.epoch, key, {timeoutMs}).then(
            (res) => {
              inflight--
              answers.push({node, record: res.record})
              finish()
            },
            (err: unknown) => {
              inflight--
              const f = failureOf(node, err)
              if (FENCING.has(f.code)) fenced = true
              if (isRetriableRefusal(err)) refused = true
              failures.push(f)
              launch()
              finish()
            },
          )
        }
      }
      launch()
      finish()
    })
  }

  private resolved(shard: Shard, answers: readonly ReplicaAnswer[]): ReadResult {
    const {newest, stale} = resolveRead(answers)
    if (newest) {
      const ts = parseHlc(newest.version)
      if (ts) this.deps.clock.observe(ts)
      for (const node of stale) this.deps.repair?.({shard: shard.id, epoch: shard.epoch, node, record: newest})
    }
    return {shard: shard.id, epoch: shard.epoch, record: newest}
  }
}

/** ReplicaWriteAnswer is what one replica's apply answer means for a write: an ack, or why it is none. */
type ReplicaWriteAnswer = {kind: 'acked'} | {kind: 'newer'; version: string; failure: ReplicaFailure} | {kind: 'expired'; failure: ReplicaFailure}

/** replicaWriteAnswer reads a replica's answer to the write of `record` (record index 0 of the request). */
function replicaWriteAnswer(node: string, record: NodeRecord, res: ApplyResponse): ReplicaWriteAnswer {
  const lost = res.superseded?.find((x) => x.i === 0)
  // The replica keeps a newer version, or another record at this very version that wins the
  // tie (a router restarted under the same id can issue a version its previous incarnation
  // used): this write did not land there, so it is no ack; the re-issue goes above it.
  if (lost && lost.version >= record.version) return {kind: 'newer', version: lost.version, failure: {node, code: 'CONFLICT', message: `node ${node} keeps a newer version ${lost.version}`}}
  // A tombstone older than the replica's grace (a late retry, a slow node) deleted what it
  // beat but was not stored: nothing there hides an older value another replica holds.
  if (res.expired?.includes(0)) return {kind: 'expired', failure: {node, code: 'CONFLICT', message: `node ${node} found the tombstone ${record.version} already past its --tombstone-grace and stored nothing`}}
  return {kind: 'acked'}
}

/** failureReason labels a failed apply for metrics: TIMEOUT when the request's own time bound ran out (NodeRequestError.timedOut), else the error code of `f`. */
function failureReason(f: ReplicaFailure): string {
  return f.timedOut ? 'TIMEOUT' : f.code
}

/** failureOf is why `node` failed a request, from what its client threw; `timedOut` is set only when true. */
function failureOf(node: string, err: unknown): ReplicaFailure {
  if (isNodeRequestError(err)) return {node, code: err.code, message: err.message, ...(err.timedOut ? {timedOut: true} : {})}
  return {node, code: 'INTERNAL', message: err instanceof Error ? err.message : String(err)}
}

function timerSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
