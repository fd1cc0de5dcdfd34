import {createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import {createServer as createHttpsServer} from 'node:https'
import {type Socket} from 'node:net'
import {type TLSSocket} from 'node:tls'
import {HTTP_STATUS} from '../errors/httpStatus.js'
import {type TlsMaterial} from './tlsMaterial.js'

/** DataPlaneServerOptions choose plaintext or TLS, and how client certificates are treated. */
export interface DataPlaneServerOptions {
  /** tls: serve TLS only with this certificate; absent: plaintext HTTP. */
  tls?: TlsMaterial
  /**
   * clientCertificates: `require` (mutual TLS: a peer without a certificate signed by the
   * CA fails the handshake; storage nodes) or `request` (a certificate is asked for and
   * verified, but its absence is left to the application; the router's client-cert users).
   */
  clientCertificates: 'require' | 'request'
  keepAliveTimeout: number
  headersTimeout: number
  requestTimeout: number
  /** onRefused hears one line per refused connection (plaintext on a TLS port, failed handshake). Never carries key material. */
  onRefused?: (reason: string, remote: string) => void
}

/** HANDSHAKE_REFUSALS name, for the server's log, why a peer's handshake was refused. */
const HANDSHAKE_REFUSALS: Record<string, string> = {
  ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE: 'the peer presented no client certificate',
  ERR_SSL_CERTIFICATE_VERIFY_FAILED: "the peer's certificate is not signed by the cluster CA, or has expired",
  ERR_SSL_NO_SHARED_CIPHER: 'no cipher in common',
  ERR_SSL_UNSUPPORTED_PROTOCOL: 'the peer offers only TLS older than 1.2',
}

/** TLS_HANDSHAKE_RECORD is the first byte of every TLS connection (a handshake record). */
const TLS_HANDSHAKE_RECORD = 0x16

/**
 * createDataPlaneServer makes the HTTP/1.1 server of a storage node or router: plaintext
 * `node:http` without `tls`, else `node:https` (TLS 1.2+, the cluster CA as the only trust
 * anchor for client certificates). A TLS server answers a plaintext HTTP request with a
 * one-shot `400` JSON body `{code: 'TLS_REQUIRED'}` and closes, so a misconfigured client
 * reads why instead of a reset. The https server is returned typed as `http.Server`: it has
 * the same request, drain and close API at run time, and callers stay transport-agnostic.
 */
export function createDataPlaneServer(opts: DataPlaneServerOptions, handler: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const timeouts = {keepAliveTimeout: opts.keepAliveTimeout, headersTimeout: opts.headersTimeout, requestTimeout: opts.requestTimeout}
  if (!opts.tls) return createHttpServer(timeouts, handler)
  const {ca, cert, key} = opts.tls
  const server = createHttpsServer(
    {...timeouts, ca, cert, key, minVersion: 'TLSv1.2', requestCert: true, rejectUnauthorized: opts.clientCertificates === 'require'},
    handler,
  )
  server.on('tlsClientError', (err: Error & {code?: string}, socket: TLSSocket) => {
    opts.onRefused?.(`TLS handshake failed: ${HANDSHAKE_REFUSALS[err.code ?? ''] ?? err.code ?? err.message}`, remoteOf(socket))
  })
  refusePlaintext(server as unknown as Server, opts.onRefused)
  return server as unknown as Server
}

/**
 * reloadServerTls swaps the certificate, key and CA bundle of a TLS server built by
 * {@link createDataPlaneServer}: new connections use them, open ones keep theirs. This is
 * how a CA or certificate rotates without a restart. No-op on a plaintext server.
 */
export function reloadServerTls(server: Server, tls: TlsMaterial): void {
  const s = server as unknown as {setSecureContext?: (o: object) => void}
  s.setSecureContext?.({ca: tls.ca, cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2'})
}

// Peek at a new connection's first byte before the TLS layer sees it: a handshake record
// goes on to TLS (the byte is put back and TLSSocket reads buffered data first), anything
// else is a plaintext client that gets a readable refusal instead of a handshake error.
function refusePlaintext(server: Server, onRefused: DataPlaneServerOptions['onRefused']): void {
  const tlsListeners = server.listeners('connection') as ((socket: Socket) => void)[]
  server.removeAllListeners('connection')
  server.on('connection', (socket: Socket) => {
    // A peer that connects and never speaks would otherwise hold the socket (and a server close) forever.
    socket.setTimeout(10_000, () => socket.destroy())
    socket.once('data', (first: Buffer) => {
      socket.setTimeout(0)
      socket.pause()
      socket.unshift(first)
      if (first[0] === TLS_HANDSHAKE_RECORD) {
        // No resume here: the TLS layer takes over the socket's handle and reads on its own.
        for (const l of tlsListeners) l.call(server, socket)
        return
      }
      onRefused?.('plaintext connection to a TLS-only port', remoteOf(socket))
      const body = JSON.stringify({code: 'TLS_REQUIRED', message: 'this port speaks TLS only: dial https:// and trust the cluster CA (--tls-ca)'})
      socket.end(`HTTP/1.1 ${HTTP_STATUS.TLS_REQUIRED} Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
    })
    socket.on('error', () => socket.destroy())
  })
}

function remoteOf(socket: Socket): string {
  return `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`
}
