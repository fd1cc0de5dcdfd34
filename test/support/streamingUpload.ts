import {request} from 'node:http'

/** UploadOutcome is what a client uploading a body saw: the answer, or the socket error that replaced it. */
export type UploadOutcome = {status: number; code?: string} | {error: string}

/** StreamingUploadOptions describe one upload; `chunked` sends no content-length. */
export interface StreamingUploadOptions {
  address: string
  method: string
  path: string
  bytes: number
  headers?: Record<string, string>
  chunked?: boolean
}

/**
 * streamingUpload sends `bytes` bytes (declared by content-length unless `chunked`) the
 * way a client that writes its whole body before reading does: in 1 MiB pieces, on a fresh
 * connection that closes after the answer (`connection: close`), so a server that answers early does so while most of the body is unsent.
 * It resolves with the answer (status and JSON `code`) or the socket error (EPIPE,
 * ECONNRESET, ...) that ended the exchange instead; bounded by 30 s. It never rejects.
 */
export function streamingUpload(opts: StreamingUploadOptions): Promise<UploadOutcome> {
  const [host, port] = opts.address.split(':')
  return new Promise((resolve) => {
    const headers: Record<string, string> = {...opts.headers}
    if (!opts.chunked) headers['content-length'] = String(opts.bytes)
    // agent:false sends `connection: close`: the server closes after its answer, the case where unread bytes reset the connection.
    const req = request({host, port: Number(port), method: opts.method, path: opts.path, headers, timeout: 30_000, agent: false}, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => (text += d))
      res.on('end', () => {
        let code: string | undefined
        try {
          code = (JSON.parse(text || '{}') as {code?: string}).code
        } catch {
          code = undefined
        }
        resolve({status: res.statusCode ?? 0, code})
      })
      res.on('error', (e: NodeJS.ErrnoException) => resolve({error: e.code ?? e.message}))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (e: NodeJS.ErrnoException) => resolve({error: e.code ?? e.message}))
    const piece = Buffer.alloc(Math.min(opts.bytes, 1024 * 1024), 0x61)
    let left = opts.bytes
    const writeMore = (): void => {
      while (left > 0) {
        const n = Math.min(left, piece.length)
        left -= n
        if (!req.write(n === piece.length ? piece : piece.subarray(0, n))) {
          req.once('drain', writeMore)
          return
        }
      }
      req.end()
    }
    writeMore()
  })
}
