/**
 * retryFor calls `attempt` until it succeeds; while it throws an error `retriable` accepts and
 * `waitMs` has not passed since the first call, it tries again every `pauseMs`. Otherwise it
 * throws that attempt's error. For a resource another process is about to give up (a port, a
 * data dir's lock), which a starter waits for briefly rather than failing at once.
 */
export async function retryFor<T>(attempt: () => T | Promise<T>, retriable: (err: unknown) => boolean, waitMs: number, pauseMs = 100): Promise<T> {
  const until = Date.now() + waitMs
  for (;;) {
    try {
      return await attempt()
    } catch (err) {
      if (!retriable(err) || Date.now() >= until) throw err
      await new Promise((r) => setTimeout(r, pauseMs))
    }
  }
}
