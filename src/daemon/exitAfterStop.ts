/** EXIT_LINGER_MS is how long a daemon that has stopped may take to end once its command returns. */
export const EXIT_LINGER_MS = 1000

/**
 * exitAfterStop ends the process {@link EXIT_LINGER_MS} after a daemon's graceful stop, if it
 * has not ended by itself by then, with the exit code already set (0 for a stop). Called by
 * `node serve`, `router serve` and `autopilot` once their stop is done.
 *
 * Why: a stopped daemon ends when nothing is pending, and an etcd call still in flight (a
 * stats publish, a registration update) stays pending while etcd does not answer: up to its
 * unary deadline times etcd3's resends, after the client was closed. A frozen etcd kept a
 * node that had logged "stopped" alive 5 s more. The timer is unref'd: a process with nothing
 * pending ends at once, as before.
 */
export function exitAfterStop(exit: () => void = () => process.exit()): void {
  setTimeout(exit, EXIT_LINGER_MS).unref()
}
