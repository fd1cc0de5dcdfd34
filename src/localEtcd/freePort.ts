import {createServer} from 'node:net'

/**
 * Ports this process has already handed out. The kernel may give the same ephemeral port to
 * two successive bind(0) calls once the first listener is closed, and callers often collect
 * several ports before starting anything (node ids → ports), so a repeat would make two
 * processes fight over one port. Remembering what was issued keeps one process's ports distinct.
 */
const issued = new Set<number>()
const MAX_ATTEMPTS = 64

/**
 * freePort asks the kernel for a free TCP port on 127.0.0.1 that this process has not handed
 * out before. The port is released before returning, so a caller racing other processes
 * should retry its bind on EADDRINUSE.
 */
export function freePort(): Promise<number> {
  return unissuedPort(kernelPort)
}

/** unissuedPort draws ports from `next` until one this process has not handed out (exported for tests). */
export async function unissuedPort(next: () => Promise<number>): Promise<number> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const port = await next()
    if (!issued.has(port)) {
      issued.add(port)
      return port
    }
  }
  throw new Error(`no fresh TCP port on 127.0.0.1 after ${MAX_ATTEMPTS} attempts (every one was already handed out by this process)`)
}

function kernelPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}
