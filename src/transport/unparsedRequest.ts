import {type Duplex} from 'node:stream'
import {OVERSIZE_DRAIN_BYTES, OVERSIZE_DRAIN_MS} from './requestBody.js'

/** answeredAt holds, per socket already refused, how many bytes had been read when the answer went out. */
const answeredAt = new WeakMap<Duplex, number>()

/** UnparsedSocket is what {@link refuseUnparsedRequest} needs of a server connection. */
export type UnparsedSocket = Duplex & {bytesRead: number}

/**
 * refuseUnparsedRequest is a server's 'clientError' handler body: it answers a request
 * node:http could not parse (headers too large, bad syntax, a request timeout) with the
 * raw HTTP `response` and ends the connection, then lets what the client still sends be
 * read and thrown away, at most OVERSIZE_DRAIN_BYTES for at most OVERSIZE_DRAIN_MS, before
 * it destroys the socket. Destroying at once, with the client's upload unread, makes the
 * kernel reset the connection, which discards the answer: a client still sending a body
 * behind a 70 KB path saw ECONNRESET instead of the 400. node:http's errored parser reports
 * every later chunk as another 'clientError'; those calls only check the bound.
 */
export function refuseUnparsedRequest(socket: UnparsedSocket, response: string): void {
  const readBefore = answeredAt.get(socket)
  if (readBefore !== undefined) {
    if (socket.bytesRead - readBefore > OVERSIZE_DRAIN_BYTES) socket.destroy()
    return
  }
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const timer = setTimeout(() => socket.destroy(), OVERSIZE_DRAIN_MS).unref()
  answeredAt.set(socket, socket.bytesRead)
  socket.once('close', () => clearTimeout(timer))
  socket.end(response)
}
