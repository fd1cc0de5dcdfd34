import {request} from 'undici'
import {dataPlaneUrl, defaultClientTls, sharedDispatcher} from '../../src/transport/clientTls.js'

/**
 * dataPlaneFetch is `fetch` for tests that talk to routers and nodes: plain
 * `http://address/path` unless this process set its data-plane TLS
 * (setDefaultClientTls, e.g. the chaos suite with CHAOS_TLS=1), then `https://` with that
 * CA and client certificate. Returns a standard Response (the body is read in full).
 */
export async function dataPlaneFetch(address: string, path: string, init: {method?: 'GET' | 'PUT' | 'DELETE' | 'POST'; body?: Buffer | string; signal?: AbortSignal} = {}): Promise<Response> {
  const tls = defaultClientTls()
  const res = await request(dataPlaneUrl(address, tls, path), {method: init.method ?? 'GET', body: init.body, signal: init.signal, dispatcher: sharedDispatcher(tls)})
  const buf = Buffer.from(await res.body.arrayBuffer())
  const headers = new Headers()
  for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v)
  // A Response may not carry a body with these statuses.
  const bodyless = res.statusCode === 204 || res.statusCode === 304
  return new Response(bodyless ? null : buf, {status: res.statusCode, headers})
}
