import {type IncomingMessage} from 'node:http'
import {type TLSSocket} from 'node:tls'
import {type Credentials} from './accessControl.js'

/**
 * credentialsOf reads what a request presents: an `authorization: Bearer <token>` header,
 * and the CN of a client certificate the TLS layer verified against the cluster CA (an
 * unverified certificate counts as none). Never logs or copies the token elsewhere.
 */
export function credentialsOf(req: IncomingMessage): Credentials {
  const creds: Credentials = {}
  const header = req.headers.authorization
  if (typeof header === 'string' && /^bearer /i.test(header)) creds.bearer = header.slice(7).trim()
  const socket = req.socket as Partial<TLSSocket>
  if (socket.authorized === true && typeof socket.getPeerCertificate === 'function') {
    const cn = socket.getPeerCertificate().subject?.CN
    if (typeof cn === 'string') creds.certificateCn = cn
  }
  return creds
}
