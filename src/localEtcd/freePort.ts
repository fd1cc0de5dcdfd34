import {createServer} from 'node:net'

/**
 * freePort asks the kernel for a free TCP port on 127.0.0.1. The port is released before
 * returning, so a caller racing other processes should retry its bind on EADDRINUSE.
 */
export function freePort(): Promise<number> {
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
