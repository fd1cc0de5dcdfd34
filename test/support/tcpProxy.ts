import {createServer, type Server, type Socket, connect} from 'node:net'

/** TcpProxy forwards 127.0.0.1:port to a target; block() simulates a network cut. */
export interface TcpProxy {
  /** endpoint is `http://127.0.0.1:<port>`, to use instead of the target's. */
  endpoint: string
  /** block destroys every open connection and refuses new ones until unblock(). */
  block(): void
  unblock(): void
  /**
   * freeze silently stops forwarding on every connection, open or new (a half-open network:
   * no RST, no FIN, bytes just vanish) until thaw(), which then drops those connections.
   */
  freeze(): void
  thaw(): void
  /**
   * lagReplies delays every byte from the target to its clients by `ms` from now on (0: none),
   * in order: requests reach the target at once, only the answers are late (a slow network
   * back, or a client too busy to read them).
   */
  lagReplies(ms: number): void
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
  let frozen = false
  let replyLagMs = 0
  const held = new Set<Socket>()
  const server: Server = createServer((client) => {
    if (blocked) {
      client.destroy()
      return
    }
    if (frozen) {
      held.add(client)
      client.on('error', () => client.destroy())
      client.pause()
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
    // Not piped: each chunk waits out the lag, and never overtakes the one before it.
    let releaseAt = 0
    upstream.on('data', (chunk: Buffer) => {
      if (frozen) return
      releaseAt = Math.max(releaseAt, Date.now() + replyLagMs)
      const wait = releaseAt - Date.now()
      if (wait <= 0) client.write(chunk)
      else setTimeout(() => !frozen && !client.destroyed && client.write(chunk), wait)
    })
    upstream.on('end', () => setTimeout(() => client.end(), Math.max(0, releaseAt - Date.now())))
    pairs.push([client, upstream])
  })
  let pairs: [Socket, Socket][] = []
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const addr = server.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0
  const cut = () => {
    for (const s of [...open, ...held]) s.destroy()
    open.clear()
    held.clear()
    pairs = []
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
    freeze() {
      frozen = true
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream)
        client.pause()
        upstream.pause()
      }
    },
    thaw() {
      cut()
      frozen = false
    },
    lagReplies(ms) {
      replyLagMs = ms
    },
    close() {
      cut()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

/**
 * loseAnswer runs `op` (a client call through `proxy`) so that its request reaches etcd but
 * the answer never reaches the client, as when a leader dies or the connection resets right
 * after a commit: replies are held back, `landed` is polled (on a client that bypasses the
 * proxy) until etcd shows the write, then every proxied connection is cut before the held
 * answer goes out. The client sees a dropped connection and, like etcd3, may send the call
 * again on a new one. Returns what `op` returns (or throws). The proxy's connections must be
 * open already (do one read through it first), or the connection set-up is held back too.
 */
export async function loseAnswer<T>(proxy: TcpProxy, op: () => Promise<T>, landed: () => Promise<boolean>, timeoutMs = 10_000): Promise<T> {
  proxy.lagReplies(20_000)
  const running = op()
  running.catch(() => undefined)
  try {
    const until = Date.now() + timeoutMs
    while (!(await landed())) {
      if (Date.now() > until) throw new Error(`loseAnswer: the write did not land within ${timeoutMs} ms`)
      await new Promise((r) => setTimeout(r, 20))
    }
  } finally {
    // Cut first: the held answer is dropped with its connection (its timer finds it destroyed).
    proxy.block()
    proxy.lagReplies(0)
    proxy.unblock()
  }
  return running
}
