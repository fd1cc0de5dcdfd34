import {createServer, type Server, type Socket, connect} from 'node:net'

/** TcpProxy forwards 127.0.0.1:port to a target; block() simulates a network cut. */
export interface TcpProxy {
  /** endpoint is `http://127.0.0.1:<port>`, to use instead of the target's. */
  endpoint: string
  /** block destroys every open connection and refuses new ones until unblock(). */
  block(): void
  unblock(): void
  close(): Promise<void>
}

/**
 * startTcpProxy listens on a free port and pipes each connection to `targetEndpoint`
 * (an http:// URL). It lets a test cut one client off etcd while others keep talking to it.
 */
export async function startTcpProxy(targetEndpoint: string): Promise<TcpProxy> {
  const target = new URL(targetEndpoint)
  const open = new Set<Socket>()
  let blocked = false
  const server: Server = createServer((client) => {
    if (blocked) {
      client.destroy()
      return
    }
    const upstream = connect(Number(target.port), target.hostname)
    for (const s of [client, upstream]) {
      open.add(s)
      s.on('close', () => open.delete(s))
      s.on('error', () => {
        client.destroy()
        upstream.destroy()
      })
    }
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const addr = server.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0
  const cut = () => {
    for (const s of open) s.destroy()
    open.clear()
  }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    block() {
      blocked = true
      cut()
    },
    unblock() {
      blocked = false
    },
    close() {
      cut()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
