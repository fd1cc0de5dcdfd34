import {type ServerResponse} from 'node:http'
import {type Socket} from 'node:net'

/**
 * onResponseGone calls `fn` once `res` can no longer send anything: when it closes, or
 * when its connection closes first, or at once when either already happened (a client gone
 * while the handler awaited). Why the connection too: a response queued behind another on
 * a pipelined connection never gets the socket once it closes, and Node emits no 'close'
 * for it (_http_server.js abortIncoming destroys only the requests); what it buffered is
 * never written after that (assignSocket's _flush needs a writable socket). Both events
 * come only once the socket's handle closed, when libuv has cancelled its pending writes,
 * so bytes given to the response are no longer read by then.
 *
 * The responses of one connection share one 'close' listener on its socket (see
 * onConnectionClose): one each printed Node's MaxListenersExceededWarning once more than
 * 10 copy streams or snapshot chunks were pipelined on one connection. Each response's
 * watch leaves the socket once it ran, whichever close came first.
 */
export function onResponseGone(res: ServerResponse, fn: () => void): void {
  const conn = res.req?.socket
  let gone = false
  let unwatch = () => {}
  const once = () => {
    if (gone) return
    gone = true
    res.off('close', once)
    unwatch()
    fn()
  }
  // Destroyed, not yet closed: nothing written from now on is sent (OutgoingMessage write_ refuses a destroyed message).
  if (res.destroyed || conn?.destroyed) return once()
  res.once('close', once)
  if (conn) unwatch = onConnectionClose(conn, once)
}

/** watchers are the callbacks waiting for each socket's close, behind the one listener the socket carries while any waits. */
const watchers = new WeakMap<Socket, {fns: Set<() => void>; listener: () => void}>()

/**
 * onConnectionClose calls `fn` when `conn` closes, through one 'close' listener per socket
 * however many wait, and returns the function that stops waiting (the socket's listener
 * goes with the last watcher: a keep-alive connection carries none between requests).
 */
function onConnectionClose(conn: Socket, fn: () => void): () => void {
  let w = watchers.get(conn)
  if (!w) {
    const fns = new Set<() => void>()
    const listener = () => {
      watchers.delete(conn)
      for (const f of [...fns]) f()
      fns.clear()
    }
    w = {fns, listener}
    watchers.set(conn, w)
    conn.once('close', listener)
  }
  const entry = w
  // A Set keeps one entry per function: wrap it, so one function given twice is called twice.
  const call = () => fn()
  entry.fns.add(call)
  return () => {
    if (!entry.fns.delete(call) || entry.fns.size > 0) return
    if (watchers.get(conn) === entry) watchers.delete(conn)
    conn.off('close', entry.listener)
  }
}
