import {setTimeout as sleepFor} from 'node:timers/promises'

/**
 * abortableSleep waits `ms`, or less when `signal` aborts; it never rejects, so loops
 * simply re-check their stop condition after it returns.
 */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return sleepFor(ms, undefined, {signal}).catch(() => undefined)
}
