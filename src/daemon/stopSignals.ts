/** SignalSource is the part of `process` that {@link StopSignals} uses (a test passes an EventEmitter). */
export interface SignalSource {
  on(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown
  off(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown
}

/** STOP_SIGNALS are the signals that stop a daemon gracefully (the second one: at once). */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT']

/**
 * StopSignals watches SIGTERM and SIGINT for one daemon run, from before it starts until it
 * has stopped. Installed before start-up so that a signal while the daemon is still starting
 * (loading the shard map, taking its lease, publishing its first stats) is not Node's default
 * action (death without revoking the lease, leaving `alive/<id>` to expire by TTL) but a
 * graceful stop: the first signal resolves {@link signalled} and aborts {@link abort} (the
 * start-up checks it between steps); any signal after that, or after
 * {@link stoppingForAnotherReason}, calls `exit(1)` at once (an operator's second Ctrl-C: the
 * stop was cut short). Once the daemon says its stop is done ({@link stopped}), a signal calls
 * `exit(0)`: it only cuts the exit linger (exitAfterStop.ts) of a stop that finished.
 *
 * Kept installed through that linger, not disposed when the command returns: removed, a second
 * signal there met Node's default action and the process died of it (143 in a shell, a
 * supervisor's "killed") after a clean stop.
 */
export class StopSignals {
  /** signalled resolves with the first stop signal (never rejects; pending until one arrives). */
  readonly signalled: Promise<NodeJS.Signals>
  private readonly controller = new AbortController()
  private resolve: (signal: NodeJS.Signals) => void = () => {}
  private stopping = false
  private done = false
  private readonly handler = (signal: NodeJS.Signals): void => {
    if (this.done) {
      this.exit(0)
      return
    }
    if (this.stopping) {
      this.exit(1)
      return
    }
    this.stopping = true
    this.controller.abort(new Error(`received ${signal}`))
    this.resolve(signal)
  }

  constructor(
    private readonly source: SignalSource = process,
    private readonly exit: (code: number) => void = (code) => process.exit(code),
  ) {
    this.signalled = new Promise((resolve) => (this.resolve = resolve))
    for (const s of STOP_SIGNALS) source.on(s, this.handler)
  }

  /** abort is aborted by the first stop signal: start-up steps check it and give up. */
  get abort(): AbortSignal {
    return this.controller.signal
  }

  /** stoppingForAnotherReason: the daemon is shutting down anyway (its storage failed); from now on a signal exits at once. */
  stoppingForAnotherReason(): void {
    this.stopping = true
  }

  /** stopped: the daemon's graceful stop is done (only the exit linger is left); from now on a signal exits 0 at once. */
  stopped(): void {
    this.stopping = true
    this.done = true
  }

  /** dispose removes the handlers (Node's default action applies again). Idempotent. */
  dispose(): void {
    for (const s of STOP_SIGNALS) this.source.off(s, this.handler)
  }
}
