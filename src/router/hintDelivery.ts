import {type NodeClient} from '../node/nodeClient.js'
import {isNodeRequestError} from '../node/nodeRequestError.js'
import {type DeliveryOutcome, type HintBatch} from './hintQueue.js'

/** HintDeliveryOptions: where a hint batch's node is reached, and how long one delivery may take. */
export interface HintDeliveryOptions {
  /** node returns the client of node id `node` (its apply, which can mark a replay), or undefined while the router knows no address for it. */
  node(node: string): Pick<NodeClient, 'apply'> | undefined
  /** timeoutMs bounds one delivery (the router's node timeout). */
  timeoutMs: number
}

/**
 * hintDelivery returns the HintQueue's `deliver` function the router uses: each batch is
 * applied to its node as kind `write` with the records' own versions, at the shard and
 * epoch the queue placed it at, so a redelivery is an idempotent LWW merge. It is marked a
 * replay (`replay=1`), so the node applies it as the write it is but does not count it as
 * client write load a second time (a node built before the mark counts it, as it did). It
 * never rejects: a node with no known address yet is `retry`, a failed apply is classified
 * by {@link deliveryFailure}.
 */
export function hintDelivery(opts: HintDeliveryOptions): (batch: HintBatch) => Promise<DeliveryOutcome> {
  return async (b) => {
    const client = opts.node(b.node)
    if (!client) return 'retry'
    try {
      await client.apply(b.shard, b.epoch, b.records, 'write', {timeoutMs: opts.timeoutMs, replay: true})
      return 'delivered'
    } catch (err) {
      return deliveryFailure(err)
    }
  }
}

/**
 * deliveryFailure classifies a failed delivery: a fencing refusal (STALE_EPOCH, NOT_OWNER)
 * is `fenced` (re-read the map, then re-resolve); a refusal no retry can change
 * (PRECONDITION: older than the node's tombstone grace; UNAUTHORIZED; BAD_INPUT) is
 * `rejected`; anything else (timeouts, connection errors, NOT_SERVING, 5xx) is `retry`.
 */
export function deliveryFailure(err: unknown): DeliveryOutcome {
  if (!isNodeRequestError(err)) return 'retry'
  if (err.code === 'STALE_EPOCH' || err.code === 'NOT_OWNER') return 'fenced'
  if (err.code === 'PRECONDITION' || err.code === 'UNAUTHORIZED' || err.code === 'BAD_INPUT' || err.code === 'NOT_FOUND') return 'rejected'
  return 'retry'
}
