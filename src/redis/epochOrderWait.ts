import {UserError} from '../errors/errors.js'
import {myself} from './clusterNodes.js'
import {type EpochReadings, targetWillOutrankSource} from './epochOrder.js'
import {readClusterNodes} from './redisConnection.js'
import {type MasterConn} from './slotOps.js'

/**
 * EPOCH_WAIT_MS bounds how long a slot waits, keys moved and still open, for the target to
 * learn the source's config epoch by gossip (a few pings; cluster-node-timeout/2 at worst).
 */
export const EPOCH_WAIT_MS = 30_000

/** EPOCH_POLL_MS is how often the epochs are read again while waiting. */
const EPOCH_POLL_MS = 100

/** EpochWaitOptions are what differs between the callers of {@link awaitEpochOrder}: the clock, the stop signal and the way out. */
export interface EpochWaitOptions {
  now(): number
  sleep(ms: number): Promise<void>
  /** stopped tells whether the caller is shutting down (the executor): the wait then ends with false, the slot still open. Absent: never. */
  stopped?(): boolean
  /** wayOut is the hint of the PRECONDITION thrown after the wait, e.g. "`apply --resume` retries". */
  wayOut: string
  /** waitMs bounds the wait (default EPOCH_WAIT_MS). */
  waitMs?: number
  /** read reads the epochs (default {@link readEpochs}); tests pass their own. */
  read?(source: MasterConn, target: MasterConn): Promise<EpochReadings>
}

/**
 * awaitEpochOrder holds `slot`, open, until `target` taking it by SETSLOT NODE leaves `target`
 * with a config epoch above `source`'s (targetWillOutrankSource): otherwise `source`, still
 * claiming the slot until its own SETSLOT NODE (or a source that just won a failover, with a
 * new epoch `target` has not heard of), would win it back by gossip and Redis would delete the
 * keys `target` holds. The one wait both the executor's move runner and `redis fix` use.
 * Returns true once the order holds; false when `opts.stopped()` answers true first (the slot
 * stays open; a resume finishes it). Throws UserError(PRECONDITION) naming the slot and both
 * epochs, with `opts.wayOut` as its hint, once `opts.waitMs` passed without it (the slot stays
 * open and safe: ASK still routes its keys). Whatever reading the epochs throws is passed on.
 */
export async function awaitEpochOrder(source: MasterConn, target: MasterConn, slot: number, opts: EpochWaitOptions): Promise<boolean> {
  const waitMs = opts.waitMs ?? EPOCH_WAIT_MS
  const read = opts.read ?? readEpochs
  const deadline = opts.now() + waitMs
  for (;;) {
    const r = await read(source, target)
    if (targetWillOutrankSource(r)) return true
    if (opts.stopped?.()) return false
    if (opts.now() > deadline) throw new UserError('PRECONDITION', `slot ${slot}: ${target.node} (config epoch ${r.targetOwn}) still sees ${source.node} at epoch ${r.sourceSeenByTarget ?? 'unknown'}, not its ${r.sourceOwn}, after ${waitMs / 1000} s: assigning the slot now could lose its keys`, opts.wayOut)
    await opts.sleep(EPOCH_POLL_MS)
  }
}

/**
 * readEpochs reads the config epochs that decide whether `target` can take a slot from
 * `source` safely (see targetWillOutrankSource): the source's own from the source's
 * `CLUSTER NODES`, then the target's own and the target's view of the source from the target's.
 * Throws PRECONDITION when a node does not list itself (not in cluster mode).
 */
export async function readEpochs(source: MasterConn, target: MasterConn): Promise<EpochReadings> {
  const srcNodes = await readClusterNodes(source.conn)
  const dstNodes = await readClusterNodes(target.conn)
  const srcMe = myself(srcNodes)
  const dstMe = myself(dstNodes)
  if (!srcMe || !dstMe) throw new UserError('PRECONDITION', `redis node ${srcMe ? target.address : source.address} did not report itself in CLUSTER NODES`, 'check that it runs in cluster mode')
  return {sourceOwn: srcMe.configEpoch, targetOwn: dstMe.configEpoch, sourceSeenByTarget: dstNodes.find((n) => n.id === source.redisId)?.configEpoch}
}
