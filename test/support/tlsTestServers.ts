import {type RequestListener, type Server} from 'node:http'
import {type AddressInfo} from 'node:net'
import {createDataPlaneServer, type DataPlaneServerOptions} from '../../src/transport/dataPlaneServer.js'
import {type TlsMaterial} from '../../src/transport/tlsMaterial.js'

/**
 * TlsTestServers starts data-plane servers (the product's own TLS server code) on
 * 127.0.0.1 with run-time ports, and closes them all in a bounded time: a socket refused
 * in its handshake is not one `closeAllConnections` knows about, so close waits at most 2 s.
 */
export class TlsTestServers {
  readonly servers: Server[] = []

  /** serve listens with `tls` (plaintext when undefined) and returns `127.0.0.1:<port>`. */
  async serve(tls: TlsMaterial | undefined, handler: RequestListener, opts: Partial<DataPlaneServerOptions> = {}): Promise<string> {
    const server = createDataPlaneServer({tls, clientCertificates: 'require', keepAliveTimeout: 1000, headersTimeout: 5000, requestTimeout: 5000, ...opts}, handler)
    this.servers.push(server)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    return `127.0.0.1:${(server.address() as AddressInfo).port}`
  }

  /** closeAll closes every server started, each within 2 s. */
  async closeAll(): Promise<void> {
    await Promise.all(this.servers.map((s) => Promise.race([new Promise((r) => {
      s.close(r)
      s.closeAllConnections()
    }), new Promise((r) => setTimeout(r, 2000))])))
  }
}
