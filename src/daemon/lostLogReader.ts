/** OutputStream is what {@link surviveLostLogReader} uses of process.stdout and process.stderr. */
export interface OutputStream {
  on(event: 'error', listener: (err: Error) => void): unknown
}

const guarded = new WeakSet<OutputStream>()

/**
 * surviveLostLogReader keeps a daemon (`node serve`, `router serve`, `autopilot`) running when
 * the reader of its stdout or stderr goes away: a `| tee`, a log shipper or a supervisor's
 * logger killed or restarted. The daemon's next line then fails with EPIPE (EIO for a closed
 * terminal), which the stream reports as an 'error' event; with no listener that was an
 * uncaught exception, which ends a Node 20 process: a node or router died because its logs
 * could not be read, and a SIGTERM (whose first act is a log line) ended it with exit 1 and its
 * lease unrevoked. From the error on, the stream is destroyed and its lines are lost (there is
 * nowhere left to say so); serving, and a graceful stop, go on. For the rest of the process:
 * the stop's last lines are written after the daemon returns. Installing it twice is harmless.
 */
export function surviveLostLogReader(streams: readonly OutputStream[] = [process.stdout, process.stderr]): void {
  for (const s of streams) {
    if (guarded.has(s)) continue
    guarded.add(s)
    s.on('error', () => {})
  }
}
