import {Agent, request} from 'undici'
import {ERROR_CODES, type ErrorCode} from '../errors/codes.js'
import {UserError} from '../errors/errors.js'
import {REMOVED_VALUE_HEADER, VERSION_HEADER} from '../node/protocol.js'
import {encodeKeyPath} from './keyPath.js'
import {routerRefusalHint} from './routerRefusalHint.js'
import {dataPlaneUrl, describeTlsFailure, tlsConnectOptions} from '../transport/clientTls.js'
import {type TlsMaterial} from '../transport/tlsMaterial.js'

/** RouterCredentials are how a client reaches a secured router: its CA (and a user's client certificate), and/or a user's token. */
export interface RouterCredentials {
  tls?: TlsMaterial
  /** token is sent as `authorization: Bearer`; never logged or put in an error. */
  token?: string
}

/** KvGetResult is a read through a router: the value and its version, or not found (absent or deleted). */
export type KvGetResult = {found: true; value: Buffer; version: string} | {found: false; version: string | null}

/**
 * RouterClient talks to one router's client API over a small keep-alive pool. Every call
 * is bounded by `timeoutMs`. Throws UserError: the router's own error code and message
 * (QUORUM_FAILED, TOO_LARGE, NOT_SERVING, ...), or NODE_UNREACHABLE when the router cannot
 * be reached or timed out.
 */
export class RouterClient {
  private readonly agent: Agent

  constructor(
    readonly address: string,
    private readonly timeoutMs = 10_000,
    connections = 4,
    private readonly credentials: RouterCredentials = {},
  ) {
    this.agent = new Agent({connections, keepAliveTimeout: 10_000, connect: tlsConnectOptions(credentials.tls)})
  }

  /** get reads `key`. */
  async get(key: Buffer | string): Promise<KvGetResult> {
    const res = await this.call('GET', key)
    const version = headerOf(res.headers[VERSION_HEADER])
    if (res.status === 404) return {found: false, version}
    return {found: true, value: res.body, version: version ?? ''}
  }

  /** put stores `value` under `key`; returns the version it was stored at. */
  async put(key: Buffer | string, value: Buffer): Promise<{version: string}> {
    const res = await this.call('PUT', key, value)
    return {version: headerOf(res.headers[VERSION_HEADER]) ?? ''}
  }

  /** del deletes `key` (a tombstone); returns the tombstone's version and whether it removed a value (undefined when the router could not tell). */
  async del(key: Buffer | string): Promise<{version: string; removedValue?: boolean}> {
    const res = await this.call('DELETE', key)
    const removed = headerOf(res.headers[REMOVED_VALUE_HEADER])
    return {version: headerOf(res.headers[VERSION_HEADER]) ?? '', ...(removed === 'true' || removed === 'false' ? {removedValue: removed === 'true'} : {})}
  }

  /** close ends the pool's connections. */
  async close(): Promise<void> {
    await this.agent.close()
  }

  private async call(method: 'GET' | 'PUT' | 'DELETE', key: Buffer | string, body?: Buffer): Promise<{status: number; headers: Record<string, string | string[] | undefined>; body: Buffer}> {
    let status: number
    let headers: Record<string, string | string[] | undefined>
    let buf: Buffer
    try {
      const res = await request(dataPlaneUrl(this.address, this.credentials.tls, `/kv/${encodeKeyPath(key)}`), {
        method,
        headers: this.credentials.token ? {authorization: `Bearer ${this.credentials.token}`} : undefined,
        body,
        dispatcher: this.agent,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        signal: AbortSignal.timeout(this.timeoutMs),
      })
      status = res.statusCode
      headers = res.headers
      buf = Buffer.from(await res.body.arrayBuffer())
    } catch (err) {
      const e = err as {code?: string; name?: string; message?: string}
      const tlsWhy = describeTlsFailure(err)
      const why = tlsWhy ? `TLS refused: ${tlsWhy}` : e.name === 'TimeoutError' ? `timed out after ${this.timeoutMs} ms` : (e.code ?? e.message ?? String(err))
      throw new UserError('NODE_UNREACHABLE', `router at ${this.address} did not answer: ${why}`, 'check the address (--router) and that `shardctl router serve` runs there', {cause: err})
    }
    if (status < 300 || (status === 404 && method === 'GET' && isKeyNotFound(buf))) return {status, headers, body: buf}
    throw refusal(this.address, status, buf)
  }
}

function headerOf(v: string | string[] | undefined): string | null {
  return typeof v === 'string' ? v : null
}

function isKeyNotFound(buf: Buffer): boolean {
  try {
    return (JSON.parse(buf.toString('utf8')) as {code?: string}).code === 'NOT_FOUND' && /^key /.test((JSON.parse(buf.toString('utf8')) as {message?: string}).message ?? '')
  } catch {
    return false
  }
}

function refusal(address: string, status: number, buf: Buffer): UserError {
  try {
    const body = JSON.parse(buf.toString('utf8')) as {code?: string; message?: string}
    if (body.code && (ERROR_CODES as readonly string[]).includes(body.code)) return new UserError(body.code as ErrorCode, `router: ${body.message ?? `HTTP ${status}`}`, routerRefusalHint(body.code as ErrorCode))
  } catch {
    // not JSON
  }
  return new UserError('INTERNAL', `router at ${address} answered HTTP ${status}`)
}
