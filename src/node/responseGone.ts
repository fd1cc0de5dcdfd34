import {type ServerResponse} from 'node:http'

/**
 * onResponseGone calls `fn` once `res` can no longer send anything: when it closes, or
 * when its connection closes first, or at once when either already happened (a client gone
 * while the handler awaited). Why the connection too: a response queued behind another on
 * a pipelined connection never gets the socket once it closes, and Node emits no 'close'
 * for it (_http_server.js abortIncoming destroys only the requests); what it buffered is
 * never written after that (assignSocket's _flush needs a writable socket). Both events
 * come only once the socket's handle closed, when libuv has cancelled its pending writes,
 * so bytes given to the response are no longer read by then.
 */
export function onResponseGone(res: ServerResponse, fn: () => void): void {
  const conn = res.req?.socket
  let gone = false
  const once = () => {
    if (gone) return
    gone = true
    res.off('close', once)
    conn?.off('close', once)
    fn()
  }
  // Destroyed, not yet closed: nothing written from now on is sent (OutgoingMessage write_ refuses a destroyed message).
  if (res.destroyed || conn?.destroyed) return once()
  res.once('close', once)
  conn?.once('close', once)
}
