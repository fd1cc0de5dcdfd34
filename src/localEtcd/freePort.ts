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

/**
 * portIsFree tells whether a listener could bind `port` on 127.0.0.1 right now (and releases
 * it at once). Used before reusing a remembered port: another process may have taken it since,
 * and a squatter that answers like etcd must not be mistaken for the etcd just started.
 */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.unref()
    srv.once('error', () => resolve(false))
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)))
  })
}
