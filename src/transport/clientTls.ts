import {Agent, type Dispatcher} from 'undici'
import {type TlsMaterial} from './tlsMaterial.js'

/*
 * The data-plane client side of TLS: which scheme to dial, which connect options to give
 * undici, and what a failed handshake means in words. A process sets its TLS once at start
 * (setDefaultClientTls) so every data-plane client it makes (node pools of the router, the
 * executor, repair, anti-entropy between nodes, clock probes) speaks TLS without each call
 * site threading it through; a client may still be given its own.
 */

let processDefault: TlsMaterial | undefined

/**
 * setDefaultClientTls makes `tls` (or plaintext, for undefined) what data-plane clients of
 * this process use when they are not given their own. Call it once at start, before
 * clients are made; existing clients keep what they were made with.
 */
export function setDefaultClientTls(tls: TlsMaterial | undefined): void {
  processDefault = tls
}

/** defaultClientTls is what {@link setDefaultClientTls} set, undefined for plaintext. */
export function defaultClientTls(): TlsMaterial | undefined {
  return processDefault
}

/** dataPlaneUrl is `https://address` with TLS, else `http://address`, plus `path`. */
export function dataPlaneUrl(address: string, tls: TlsMaterial | undefined, path = ''): string {
  return `${tls ? 'https' : 'http'}://${address}${path}`
}

/**
 * tlsConnectOptions are undici `connect` options: trust only the cluster CA (not the
 * system store) and present our certificate when we have one. Hostnames are checked
 * (the address dialled must be in the peer certificate's SANs).
 */
export function tlsConnectOptions(tls: TlsMaterial | undefined): {ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean; minVersion?: 'TLSv1.2'} {
  if (!tls) return {}
  return {ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: true, minVersion: 'TLSv1.2'}
}

const agents = new WeakMap<TlsMaterial, Agent>()

/**
 * sharedDispatcher is an undici dispatcher for one-off data-plane requests (health and
 * clock probes): one keep-alive Agent per TLS material, kept for the process's life; the
 * global dispatcher for plaintext.
 */
export function sharedDispatcher(tls: TlsMaterial | undefined): Dispatcher | undefined {
  if (!tls) return undefined
  let agent = agents.get(tls)
  if (!agent) agents.set(tls, (agent = new Agent({connect: tlsConnectOptions(tls), keepAliveTimeout: 10_000})))
  return agent
}

/** Why names for OpenSSL and Node codes, in words an operator can act on. */
const TLS_REASONS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its certificate is not signed by the cluster CA (--tls-ca)',
  SELF_SIGNED_CERT_IN_CHAIN: 'its certificate is not signed by the cluster CA (--tls-ca)',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its certificate is not signed by the cluster CA (--tls-ca)',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'its certificate is not signed by the cluster CA (--tls-ca)',
  UNABLE_TO_GET_ISSUER_CERT: 'its certificate is not signed by the cluster CA (--tls-ca)',
  CERT_SIGNATURE_FAILURE: 'its certificate is not signed by the cluster CA (--tls-ca)',
  CERT_HAS_EXPIRED: 'its certificate has expired',
  CERT_NOT_YET_VALID: 'its certificate is not valid yet (clock skew?)',
  ERR_TLS_CERT_ALTNAME_INVALID: 'its certificate does not name the address dialled (wrong hostname: reissue it with that --host)',
  ERR_SSL_WRONG_VERSION_NUMBER: 'it does not speak TLS (a plaintext peer is refused)',
  ERR_SSL_PACKET_LENGTH_TOO_LONG: 'it does not speak TLS (a plaintext peer is refused)',
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'it requires a client certificate (pass --tls-cert and --tls-key)',
  ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: 'it refused the handshake (a client certificate is required: pass --tls-cert and --tls-key)',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: 'it refused our certificate: not signed by its CA',
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: 'it refused our certificate',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: 'it refused our certificate: expired',
  ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR: 'it refused our certificate',
}

/**
 * describeTlsFailure returns why a connection failed when the failure was TLS (looking
 * through undici's wrapping `cause`), else undefined.
 */
export function describeTlsFailure(err: unknown): string | undefined {
  for (let e = err as {code?: unknown; cause?: unknown; message?: unknown} | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && TLS_REASONS[e.code]) return TLS_REASONS[e.code]
    if (typeof e.message === 'string' && /wrong version number|packet length too long/i.test(e.message)) return TLS_REASONS.ERR_SSL_WRONG_VERSION_NUMBER
  }
  return undefined
}
