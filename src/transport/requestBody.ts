import {type IncomingMessage, type OutgoingMessage} from 'node:http'
import {type Readable} from 'node:stream'
import {UserError} from '../errors/errors.js'

/**
 * OVERSIZE_DRAIN_BYTES and OVERSIZE_DRAIN_MS bound how much of an oversized body a server
 * (router or storage node) reads and throws away before it answers 413 and closes. Closing
 * a socket with unread bytes in it makes the kernel send a reset, which also discards the
 * answer the client has not read yet: a client still uploading (curl, Node's http) then
 * sees EPIPE or ECONNRESET instead of the 413 that says why. Reading a bounded rest first
 * (nginx's lingering close) lets the answer arrive; a body beyond the bound is cut at once.
 */
export const OVERSIZE_DRAIN_BYTES = 8 * 1024 * 1024
export const OVERSIZE_DRAIN_MS = 2000

/** BodyRequest is what {@link readRequestBody} reads: a request's body stream and its headers. */
export type BodyRequest = Readable & Pick<IncomingMessage, 'headers'>

/** ResponseHeaders is the one thing {@link readRequestBody} does to the response: ask for the connection to close. */
export interface ResponseHeaders {
  setHeader(name: string, value: string): unknown
}

/**
 * readRequestBody reads a request body of at most `limit` bytes. Over it (by content-length,
 * or counted as it arrives) it sets `connection: close` on `res`, reads and discards a
 * bounded rest (see OVERSIZE_DRAIN_BYTES), then rejects with a UserError TOO_LARGE whose
 * message names `what` ("value", "request body") and the limit; the caller answers it
 * (413) and the connection closes after the answer. A body that fails mid-way (the client
 * aborted) rejects with BAD_INPUT. It never answers on `res` itself.
 */
export function readRequestBody(req: BodyRequest, res: ResponseHeaders, limit: number, what: string): Promise<Buffer> {
  const declaredHeader = req.headers['content-length']
  const declared = declaredHeader === undefined ? NaN : Number(declaredHeader)
  if (declared > limit) {
    res.setHeader('connection', 'close')
    const refusal = new UserError('TOO_LARGE', `${what} of ${declared} bytes exceeds ${limit}`)
    // A declared size beyond the bound is not waited for: cut at once rather than read it all.
    return drainAtMost(req, declared <= limit + OVERSIZE_DRAIN_BYTES ? declared : 0).then(() => Promise.reject(refusal))
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let settled = false
    const onData = (c: Buffer) => {
      size += c.length
      if (size <= limit) {
        chunks.push(c)
        return
      }
      settled = true
      req.off('data', onData)
      res.setHeader('connection', 'close')
      const refusal = new UserError('TOO_LARGE', `${what} exceeds ${limit} bytes`)
      void drainAtMost(req, OVERSIZE_DRAIN_BYTES).then(() => reject(refusal))
    }
    const fail = (reason: string) => {
      if (settled) return
      settled = true
      reject(new UserError('BAD_INPUT', `${what}: ${reason}`))
    }
    req.on('data', onData)
    req.once('end', () => {
      if (settled) return
      settled = true
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size))
    })
    req.once('error', (err) => fail(err.message))
    // An aborted upload may end the stream without an error: never leave the caller waiting.
    req.once('close', () => fail('the client closed the connection before the body ended'))
  })
}

/**
 * drainAtMost reads and discards the rest of `req`'s body, settling when it ended, when
 * more than `bytes` arrived, or after OVERSIZE_DRAIN_MS (never rejects). With `bytes` 0 it
 * settles at once and the body is left unread.
 */
export function drainAtMost(req: Readable, bytes: number): Promise<void> {
  if (bytes <= 0 || req.readableEnded) return Promise.resolve()
  return new Promise((done) => {
    let seen = 0
    const finish = () => {
      clearTimeout(timer)
      req.off('data', onData)
      req.off('end', finish)
      req.off('error', finish)
      req.off('close', finish)
      done()
    }
    const onData = (c: Buffer) => {
      seen += c.length
      if (seen > bytes) finish()
    }
    const timer = setTimeout(finish, OVERSIZE_DRAIN_MS)
    req.on('data', onData)
    req.once('end', finish)
    req.once('error', finish)
    req.once('close', finish)
    req.resume()
  })
}

/** UnreadRequest is what {@link settleUnreadBody} looks at: a request's body stream, headers, HTTP version and whether its body ended. */
export type UnreadRequest = BodyRequest & Pick<IncomingMessage, 'httpVersion' | 'complete'>

/**
 * settleUnreadBody readies the answer to a request refused before its body was read (its
 * method, path or credentials were wrong) and resolves when the answer may be sent; it
 * never rejects and never answers itself. A body already read, being read (readRequestBody)
 * or thrown away is left alone. On a connection that stays open after the answer, the body
 * is let flow (node:http reads it off the wire before the next request) and it resolves at
 * once. On one that closes after the answer (the client sent `connection: close` or spoke
 * HTTP/1.0; `res` already says close, as while draining) it first reads and discards at
 * most OVERSIZE_DRAIN_BYTES / OVERSIZE_DRAIN_MS of it: closing on unread bytes resets the
 * connection and discards the answer, so the client would see EPIPE instead of why.
 */
export function settleUnreadBody(req: UnreadRequest, res: Pick<OutgoingMessage, 'getHeader'>): Promise<void> {
  if (req.complete || req.readableFlowing !== null) return Promise.resolve()
  if (!closesAfterAnswer(req, res)) {
    req.resume()
    return Promise.resolve()
  }
  return drainAtMost(req, OVERSIZE_DRAIN_BYTES)
}

/** closesAfterAnswer says whether node:http closes the connection after answering `req` (HTTP/1.x keep-alive rules). */
export function closesAfterAnswer(req: Pick<IncomingMessage, 'headers' | 'httpVersion'>, res: Pick<OutgoingMessage, 'getHeader'>): boolean {
  if (String(res.getHeader('connection') ?? '').toLowerCase() === 'close') return true
  const options = (req.headers.connection ?? '').toLowerCase().split(',').map((t) => t.trim())
  if (options.includes('close')) return true
  return req.httpVersion === '1.0' && !options.includes('keep-alive')
}
