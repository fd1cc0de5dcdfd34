import {isNodeRequestError} from '../node/nodeRequestError.js'

/** REFUSAL_RETRY_FIRST_MS is the pause before the first retry of a round a replica refused NOT_SERVING; each next pause doubles. */
export const REFUSAL_RETRY_FIRST_MS = 20

/** REFUSAL_RETRY_MAX_MS caps the pause between two retries of a refused round: a node back in service is used within this. */
export const REFUSAL_RETRY_MAX_MS = 250

/**
 * isRetriableRefusal tells whether what a replica's request threw (`err`) is a refusal worth
 * asking the same replica again after a short pause within the client request's deadline:
 * NOT_SERVING, a node that cannot confirm the shard's epoch with etcd or has no lease at the
 * moment (re-registering), which a move's cutover or a slow etcd makes last a moment; not one
 * for want of disk space (`storageFull`: it lasts, and retrying it only delayed the 503 by the
 * whole deadline). Fencing refusals (STALE_EPOCH, NOT_OWNER) are retried after a map refresh
 * instead; a node that does not answer is not asked again within the request (it already cost
 * a node timeout).
 *
 * Safe for writes: a node answers NOT_SERVING before the record reaches its storage (not
 * serving: nodeHttpApi.ts dispatch; epoch not confirmed: nodeHttpApi.ts refresh, part of the
 * fence before the body is read; starting: nodeHttpApi.ts startingHandler), or, once, after a
 * commit while its lease had lapsed (applyFenced): applied but not acknowledged. The retry re-sends the same record at the same version, which a
 * last-writer-wins merge keeps at most once, and a node acknowledges it only once it serves
 * again (new lease, re-read map, the writes let in before settled) and its fence admits the
 * request's epoch: the same ground on which any ack of a re-sent record stands.
 */
export function isRetriableRefusal(err: unknown): boolean {
  return isNodeRequestError(err, 'NOT_SERVING') && !err.storageFull
}

/**
 * refusalRetryDelayMs (pure) is the pause before retry number `retry` (0-based) of a refused
 * round: {@link REFUSAL_RETRY_FIRST_MS} doubling up to {@link REFUSAL_RETRY_MAX_MS}; undefined
 * when the request's `remainingMs` would leave the round after it less time than the pause
 * (the refusal is then answered: the deadline bounds the retries, and a pause never eats the
 * time a last round would need).
 */
export function refusalRetryDelayMs(retry: number, remainingMs: number): number | undefined {
  const delay = Math.min(REFUSAL_RETRY_MAX_MS, REFUSAL_RETRY_FIRST_MS * 2 ** Math.min(retry, 16))
  return remainingMs > 2 * delay ? delay : undefined
}
