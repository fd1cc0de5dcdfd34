import {TokenBucket} from '../throttle/tokenBucket.js'

/** ThrottleRates are a node's copy limits in bytes/s (null: unlimited). */
export interface NodeThrottleRates {
  send: number | null
  receive: number | null
}

/**
 * NodeThrottles are the token buckets a storage node spends copy bytes from: `send` for
 * every copy stream it serves as a source, `receive` for every copy it pulls as a
 * destination, shared by all moves touching the node, so `--node-throttle` holds however
 * many moves run. The executor sets the rates (POST /v1/throttle) and changes them live.
 * Time is injected so the arithmetic is tested without sleeping.
 */
export class NodeThrottles {
  readonly send: TokenBucket
  readonly receive: TokenBucket

  constructor(now: () => number, rates: NodeThrottleRates = {send: null, receive: null}) {
    this.send = new TokenBucket(rates.send, now)
    this.receive = new TokenBucket(rates.receive, now)
  }

  /** set changes both rates from now on (a field left undefined keeps its rate). */
  set(rates: Partial<NodeThrottleRates>): void {
    if (rates.send !== undefined && rates.send !== this.send.currentRate()) this.send.setRate(rates.send)
    if (rates.receive !== undefined && rates.receive !== this.receive.currentRate()) this.receive.setRate(rates.receive)
  }

  /** rates returns the rates in force. */
  rates(): NodeThrottleRates {
    return {send: this.send.currentRate(), receive: this.receive.currentRate()}
  }
}

/**
 * spend reserves `bytes` on every bucket and waits until the tightest lets them go, in
 * sleeps of at most `maxSleepMs` (re-checking `signal` between them), so a copy throttled
 * to a crawl still stops promptly when cancelled. Resolves false when cancelled. A copy
 * cancelled before it spends takes nothing: the buckets are shared by every stream of the
 * node, and bytes reserved for a frame never sent would slow the others by its time.
 */
export async function spend(buckets: readonly TokenBucket[], bytes: number, sleep: (ms: number) => Promise<void>, signal?: AbortSignal, maxSleepMs = 200): Promise<boolean> {
  if (signal?.aborted) return false
  let wait = Math.max(0, ...buckets.map((b) => b.take(bytes)))
  while (wait > 0) {
    if (signal?.aborted) return false
    const step = Math.min(wait, maxSleepMs)
    await sleep(step)
    wait -= step
  }
  return !signal?.aborted
}
