import {readSync} from 'node:fs'

/** STDIN_RETRY_MS: how long to sleep before reading a non-blocking stdin again when it has nothing yet. */
const STDIN_RETRY_MS = 5

/**
 * readStdinTextSync reads standard input to its end as UTF-8, synchronously. Works for a
 * pipe, a socket (what Node's `spawn` gives a child) and a redirected file: Node makes a
 * piped fd 0 non-blocking, so a plain `readFileSync(0)` fails with EAGAIN while the writer is
 * still writing, and `/dev/stdin` cannot be opened on a socket (ENXIO). EAGAIN is answered by
 * a short blocking sleep, not a spin. Throws the read error otherwise (errno code kept).
 */
export function readStdinTextSync(): string {
  const chunks: Buffer[] = []
  const buf = Buffer.alloc(1 << 16)
  const sleeper = new Int32Array(new SharedArrayBuffer(4))
  for (;;) {
    let n: number
    try {
      n = readSync(0, buf, 0, buf.length, null)
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if (code === 'EAGAIN') {
        Atomics.wait(sleeper, 0, 0, STDIN_RETRY_MS)
        continue
      }
      if (code === 'EOF') break
      throw e
    }
    if (n === 0) break
    chunks.push(Buffer.from(buf.subarray(0, n)))
  }
  return Buffer.concat(chunks).toString('utf8')
}
