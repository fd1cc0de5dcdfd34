import {errorMessage, UserError} from '../errors/errors.js'
import {type Move} from '../model/move.js'
import {frameBytesFor} from '../node/copyFrames.js'
import {isNodeRequestError} from '../node/nodeRequestError.js'
import {type PullStatusResponse} from '../node/protocol.js'
import {type CopyAdmission, type HoldNote, holdNoteDue, holdReason, isThrottleHold} from './copyAdmission.js'
import {CopyMeter, stallThreshold, throttleShare} from './copyProgress.js'
import {expectedCopyBytes} from './copyTarget.js'
import {type ExecutorEnv} from './executorEnv.js'
import {assertLeaseHeld} from './leaseGate.js'
import {liveCopySources} from './liveCopySources.js'
import {nodeRetryMs} from './moveEffects.js'
import {commitMoveTransition, type FencedMove, getMove, readShard} from './moveStore.js'
import {MoveFailure} from './retryPolicy.js'
import {answerUnlessCancelled, CANCEL_LOOK_MS} from './moveCancelLook.js'

/** POLL_MS is how often the executor asks the destination for progress, as a long poll (and re-checks the throttle: `throttle set` acts within a second). */
const POLL_MS = 250
/** PROGRESS_INTERVAL_MS: progress goes to etcd at most this often per move. */
const PROGRESS_INTERVAL_MS = 250
/** THROTTLE_REFRESH_MS: node rates are pushed again this often even unchanged (a restarted node starts unthrottled). */
const THROTTLE_REFRESH_MS = 2000

/**
 * CopyGaveUp: a node stayed unreachable (or a source kept failing) past the move's node
 * retry window. A MoveFailure, so the retry policy aborts the move back to its old replica
 * set at once (before cutover that is safe).
 */
export class CopyGaveUp extends MoveFailure {
  constructor(message: string) {
    super(message)
    this.name = 'CopyGaveUp'
  }
}

/**
 * copyShard runs a move's copying phase with the destination pulling straight from the
 * source (node to node): it asks the destination to pull (POST /pull: sources, epoch, this
 * move's share of the cluster throttle), keeps the nodes' send/receive rates set from
 * `--node-throttle`, polls the destination's progress and writes it to the move record
 * (for `moves show`, `top` and the TUI), and commits `promoting` once the destination
 * reports the copy done. A source that fails is re-chosen under the same rules as before
 * (chooseCopySources: the `w = 1` rule included) and the destination resumes from its
 * durable cursor; a destination that restarted is asked again and resumes the same way.
 * Returns the move as last committed when the executor stops or the move must be
 * re-stepped (pause is handled here: the pull is cancelled while paused). Throws UserError
 * for retriable trouble and {@link CopyGaveUp} once a node stayed away past the retry window.
 */
export async function copyShard(env: ExecutorEnv, m: FencedMove): Promise<FencedMove> {
  const move = m.value
  const dst = await env.client(move.to)
  const shard = await readShard(env.ctx, move.shard)
  if (!shard) throw new CopyGaveUp(`shard ${move.shard} disappeared`)
  const retryMs = nodeRetryMs(env.options, shard.value, move.to)
  let sources = await liveCopySources(env, move, 'copying')
  // Two meters over one copy: the stream's bytes (what the throttles spend: stall verdict,
  // `top`'s COPY line, the auto throttle) and the key and value bytes (the progress's unit:
  // the rate beside it and the ETA).
  let meter = new CopyMeter(env.now(), env.options.rateWindowMs)
  let dataMeter = new CopyMeter(env.now(), env.options.rateWindowMs)
  const pushed = new Map<string, {rates: string; at: number}>()
  let current = m
  let lastSave = env.now()
  let lastBytes: number | undefined
  let lastDataBytes: number | undefined
  let askedRate: number | null | undefined
  let troubleSince: number | undefined
  /** lastLook: when the trouble branch last re-read the move (for a `moves cancel`). */
  let lastLook = env.now()
  let status: PullStatusResponse | undefined
  try {
    for (;;) {
      if (env.stopped()) return current
      if (current.value.cancelRequested) {
        // The move aborts from here: it copies no more, so its slot goes to another move now.
        env.copies?.unbind(move.id)
        return current
      }
      if (env.control.paused || !env.control.inWindow()) {
        await waitOutPause(env, dst, move)
        status = undefined
        continue
      }
      if (env.copies?.want({id: move.id, sources, destination: move.to})) {
        current = await waitForSlot(env, env.copies, dst, current, sources)
        status = undefined
        // The wait is no stall, nor part of the rate: both are measured afresh from here.
        meter = new CopyMeter(env.now(), env.options.rateWindowMs)
        dataMeter = new CopyMeter(env.now(), env.options.rateWindowMs)
        lastBytes = undefined
        lastDataBytes = undefined
        // Time held is no trouble with the nodes: counted, it would give the copy up at its first failed poll.
        troubleSince = undefined
        continue
      }
      // Admitted again after a hold: the move's note no longer says it is held.
      if (isThrottleHold(current.value.reason)) current = await commitMoveTransition(env.ctx, env.fence, current, {reason: null})
      const rate = moveRate(env)
      const polledAt = env.now()
      let asked = false
      try {
        // A node that does not answer holds a request for the client timeout: a cancel or a stop is looked for meanwhile.
        const looked = await answerUnlessCancelled(env, move.id, async (signal) => {
          await pushNodeRates(env, sources, move.to, pushed, signal)
          if (!status || status.state === 'idle' || status.state === 'cancelled' || status.state === 'failed' || rate !== askedRate || status.moveId !== move.id) {
            const addressed = await Promise.all(sources.map(async (id) => ({node: id, address: (await env.client(id)).address})))
            const share = shareOf(env, sources[0]!, move.to)
            assertLeaseHeld(env, `the pull of shard ${move.shard} into ${move.to}`)
            const pulled = await dst.pull(move.shard, {moveId: move.id, epoch: move.epoch, sources: addressed, rate, frameBytes: frameBytesFor(share, env.options.chunkBytes)}, {signal})
            askedRate = rate
            asked = true
            return pulled
          }
          // A long poll: the destination answers the moment the copy ends (or after POLL_MS),
          // so a small move's copy is seen done in milliseconds, not at the next poll.
          return dst.pullStatus(move.shard, {waitMs: POLL_MS, signal})
        })
        if (looked.ended === 'stopped') return current
        if (looked.ended === 'cancelled') {
          // The loop's top answers the cancel (the move as read carries it).
          current = looked.move
          status = undefined
          continue
        }
        status = looked.value
      } catch (err) {
        if (!isNodeRequestError(err) || !err.retriable) throw err
        troubleSince ??= env.now()
        if (env.now() - troubleSince > retryMs) throw new CopyGaveUp(`destination ${move.to} unreachable while copying shard ${move.shard}: ${errorMessage(err)} (for ${Math.round((env.now() - troubleSince) / 1000)} s)`)
        status = undefined
        await env.sleep(POLL_MS)
        // A node that refuses at once (down, not frozen) fails each request fast: the move is re-read here so a cancel is seen in the trouble window too.
        if (env.now() - lastLook >= CANCEL_LOOK_MS) {
          lastLook = env.now()
          current = (await getMove(env.ctx, move.id).catch(() => undefined)) ?? current
        }
        continue
      }
      if (status.state === 'failed') {
        troubleSince ??= env.now()
        sources = await sourcesAfterFailure(env, move, status, sources, {troubleMs: env.now() - troubleSince, retryMs})
        await env.sleep(POLL_MS)
        continue
      }
      // Trouble is over once bytes flow again (a refused stream shows `running` until it fails).
      if (status.state === 'done' || (lastBytes !== undefined && status.bytes > lastBytes)) troubleSince = undefined
      if (status.state === 'idle' || status.state === 'cancelled') continue
      // The wire rate (and so the stall verdict, `top`'s COPY line and the auto throttle's
      // flowing rate) counts the stream's bytes, which the throttles limit; the progress and its
      // data rate count key and value bytes, as the plan's estimate does: an empty shard is 4
      // bytes on the wire, 0 copied. A node that predates dataBytes reports only the stream's bytes.
      const wire = status.bytes
      const bytes = status.dataBytes ?? status.bytes
      meter.record(env.now(), lastBytes === undefined ? 0 : Math.max(0, wire - lastBytes))
      dataMeter.record(env.now(), lastDataBytes === undefined ? 0 : Math.max(0, bytes - lastDataBytes))
      lastBytes = wire
      lastDataBytes = bytes
      const finished = status.state === 'done'
      // What the bytes run to: the plan's size once per source read (a heal merging two live
      // replicas reads each whole), from where the sources start. A node that predates it does
      // not say: the planned size stands, as before.
      const expectedBytes = status.passes === undefined ? current.value.progress.expectedBytes : expectedCopyBytes(current.value.progress.totalBytes, {passes: status.passes, carriedDataBytes: status.carriedDataBytes ?? 0, prefixDataBytes: status.prefixDataBytes ?? 0})
      const progress = {
        ...current.value.progress,
        bytes,
        ...(expectedBytes === undefined ? {} : {expectedBytes}),
        keys: status.keys,
        cursor: status.cursor,
        rateBytesPerSec: Math.round(meter.rate(env.now())),
        dataRateBytesPerSec: Math.round(dataMeter.rate(env.now())),
        stalled: finished ? false : meter.stalled(env.now(), stallThreshold(shareOf(env, sources[0]!, move.to))),
      }
      const event = {type: 'progress', move: move.id, bytes, keys: status.keys, totalBytes: progress.totalBytes, ...(expectedBytes === undefined ? {} : {expectedBytes}), rateBytesPerSec: progress.rateBytesPerSec, dataRateBytesPerSec: progress.dataRateBytesPerSec} as const
      if (finished) {
        env.emit({...event, stalled: false, at: new Date(env.now()).toISOString()})
        const promoted = await commitMoveTransition(env.ctx, env.fence, current, {phase: 'promoting', progress})
        // The copy is done: its slot goes to a held copy or a new move now, not when the move ends.
        env.copies?.unbind(move.id)
        return promoted
      }
      if (env.now() - lastSave >= PROGRESS_INTERVAL_MS) {
        current = await commitMoveTransition(env.ctx, env.fence, current, {progress})
        lastSave = env.now()
        env.emit({...event, stalled: progress.stalled, at: new Date(env.now()).toISOString()})
      }
      // The long poll paced this turn; after a pull request the next long poll does. Only a
      // status answered early (a node without the long poll) needs the rest of POLL_MS here.
      const early = POLL_MS - (env.now() - polledAt)
      if (!asked && early > 0) await env.sleep(early)
    }
  } finally {
    // Not copying now (stopped, paused for good, cancelled, failed): its slot is free while it is away; it asks again when the copy runs again.
    env.copies?.leave(move.id)
  }
}

/** HOLD_REREAD_MS: a held copy re-reads its move this often, so a `moves cancel` is answered while it waits. */
const HOLD_REREAD_MS = 1000

/**
 * waitForSlot holds a copy the throttles cannot carry at the floor now (copyAdmission.ts):
 * the destination's pull is cancelled (between frames; it resumes from its durable cursor,
 * nothing is aborted), the move's reason says why it waits and its rates read 0 (no ETA), and
 * it asks again every POLL_MS until admitted, the executor stops or pauses, or the move is
 * cancelled. Returns the move as last read or committed.
 */
async function waitForSlot(env: ExecutorEnv, copies: CopyAdmission, dst: {cancelPull(shard: number, moveId: string): Promise<unknown>}, m: FencedMove, sources: readonly string[]): Promise<FencedMove> {
  const move = m.value
  await dst.cancelPull(move.shard, move.id).catch(() => undefined)
  let current = m
  let lastRead = env.now()
  let note: HoldNote | undefined
  for (;;) {
    const cause = copies.want({id: move.id, sources, destination: move.to})
    if (env.stopped()) return unheld(env, current)
    if (!cause || current.value.cancelRequested || env.control.paused || !env.control.inWindow()) return current
    const due = holdNoteDue(note, cause, env.now())
    if (due !== 'keep') {
      const reason = holdReason(cause)
      current = await commitMoveTransition(env.ctx, env.fence, current, {reason, progress: {...current.value.progress, rateBytesPerSec: 0, dataRateBytesPerSec: 0, stalled: false}})
      note = {cause, at: env.now()}
      if (due === 'announce') env.emit({type: 'info', message: `move ${move.id} (shard ${move.shard}): ${reason}`, at: new Date(env.now()).toISOString()})
    }
    await env.sleep(POLL_MS)
    if (env.now() - lastRead >= HOLD_REREAD_MS) {
      current = await getMove(env.ctx, move.id)
      lastRead = env.now()
    }
  }
}

/** waitOutPause cancels the destination's pull and waits while the executor is paused or outside its window (the pull resumes from the durable cursor). */
async function waitOutPause(env: ExecutorEnv, dst: {cancelPull(shard: number, moveId: string): Promise<unknown>}, move: Move): Promise<void> {
  await dst.cancelPull(move.shard, move.id).catch(() => undefined)
  while ((env.control.paused || !env.control.inWindow()) && !env.stopped()) await env.sleep(POLL_MS)
}

/**
 * unheld clears a throttle hold from the move's reason as the executor stops (best effort: a
 * failed write leaves it for the next run, which clears it once the copy is admitted), so
 * `moves list` does not show a move waiting for a slot while no executor runs.
 */
async function unheld(env: ExecutorEnv, m: FencedMove): Promise<FencedMove> {
  if (!isThrottleHold(m.value.reason)) return m
  return commitMoveTransition(env.ctx, env.fence, m, {reason: null}).catch(() => m)
}

/**
 * sourcesAfterFailure answers a failed pull: a failure with no failed source is retriable
 * (UserError); a source failing past the retry window (trouble for longer than `retryMs`) gives up ({@link CopyGaveUp});
 * otherwise the sources are chosen again (a source that died is replaced by other old voters
 * once its lease is gone, under the same rules as before the copy began).
 */
async function sourcesAfterFailure(env: ExecutorEnv, move: Move, status: PullStatusResponse, sources: string[], window: {troubleMs: number; retryMs: number}): Promise<string[]> {
  const what = `copy of shard ${move.shard} into ${move.to} failed${status.failedSource ? ` reading from ${status.failedSource}` : ''}: ${status.error ?? 'unknown error'}`
  if (!status.failedSource) throw new UserError('PRECONDITION', what, 'the executor retries the copy from its durable cursor')
  if (window.troubleMs > window.retryMs) throw new CopyGaveUp(`source ${status.failedSource} unreachable while copying: ${what} (for ${Math.round(window.troubleMs / 1000)} s)`)
  const next = await liveCopySources(env, move, 'copying')
  if (next.join(',') !== sources.join(',')) env.emit({type: 'info', message: `move ${move.id}: copying from ${next.join(', ')} instead of ${sources.join(', ')} (${status.error ?? 'source failed'})`, at: new Date(env.now()).toISOString()})
  return next
}

/**
 * moveRate is this move's share of the cluster throttle, null when unthrottled: the global rate
 * split over the copies admitted (at least the 16KiB/s floor each: copyAdmission.ts), or
 * without admission over the running moves.
 */
function moveRate(env: ExecutorEnv): number | null {
  const g = env.throttles.global.currentRate()
  return g === null ? null : Math.max(1, Math.floor(g / sharers(env)))
}

/** sharers is how many copies split the cluster rate now. */
function sharers(env: ExecutorEnv): number {
  return Math.max(1, env.copies ? env.copies.copying() : (env.runningMoves?.() ?? 1))
}

/** shareOf is the copy rate one move from `source` to `destination` can expect under the live throttles (a node's rate split over the admitted copies through it). */
function shareOf(env: ExecutorEnv, source: string, destination: string): number | null {
  const t = env.throttles
  const split = (rate: number | null, n: number) => (rate === null ? null : rate / n)
  return throttleShare({global: t.global.currentRate(), running: sharers(env), source: split(t.node(source).currentRate(), env.copies?.sharing(source, 'send') ?? 1), destination: split(t.node(destination).currentRate(), env.copies?.sharing(destination, 'receive') ?? 1)})
}

/**
 * pushNodeRates sets `--node-throttle` in the nodes themselves: the send rate on every
 * source and the receive rate on the destination, when it changed or every
 * {@link THROTTLE_REFRESH_MS} (a restarted node starts unthrottled). A source that cannot
 * be reached is skipped: the copy reports it.
 */
async function pushNodeRates(env: ExecutorEnv, sources: readonly string[], destination: string, pushed: Map<string, {rates: string; at: number}>, signal?: AbortSignal): Promise<void> {
  const wanted = new Map<string, {send?: number | null; receive?: number | null}>()
  for (const s of sources) wanted.set(s, {send: env.throttles.node(s).currentRate()})
  wanted.set(destination, {...wanted.get(destination), receive: env.throttles.node(destination).currentRate()})
  for (const [node, rates] of wanted) {
    const key = JSON.stringify(rates)
    const last = pushed.get(node)
    if (last && last.rates === key && env.now() - last.at < THROTTLE_REFRESH_MS) continue
    try {
      const client = await env.client(node)
      assertLeaseHeld(env, `the copy rates of ${node}`)
      await client.setThrottle(rates, {signal})
      pushed.set(node, {rates: key, at: env.now()})
    } catch (err) {
      if (node === destination || !isNodeRequestError(err) || !err.retriable) throw err
    }
  }
}

