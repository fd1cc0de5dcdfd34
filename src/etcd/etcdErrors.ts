import * as etcd from 'etcd3'
import {UserError} from '../errors/errors.js'

/** EtcdTarget names the endpoints in use and where they came from, for error messages. */
export interface EtcdTarget {
  endpoints: string[]
  source: string
}

const TLS_HINT = /ssl|tls|certificate|handshake|alert|x509/i

/**
 * toEtcdUserError turns an etcd3/gRPC failure into a one-line UserError naming the endpoint
 * and the fix: ETCD_UNREACHABLE (exit 3) when nothing answers or what answers is not etcd, ETCD_AUTH (exit 4) for
 * credentials, permission or TLS trouble. `elapsedMs` is how long the failed call took in
 * all (said when long). Other errors are returned unchanged.
 */
export function toEtcdUserError(err: unknown, target: EtcdTarget, elapsedMs?: number): unknown {
  if (err instanceof UserError) return err
  const where = `etcd at ${target.endpoints.join(',')} (from ${target.source})`
  const detail = conciseDetail(err)
  if (err instanceof etcd.EtcdAuthenticationFailedError || err instanceof etcd.EtcdInvalidAuthTokenError || err instanceof etcd.GRPCUnauthenticatedError) {
    return new UserError('ETCD_AUTH', `${where} rejected the credentials: ${detail}`, 'check --user name:password (or ETCDCTL_USER / ETCDCTL_PASSWORD)', {cause: err})
  }
  // etcd with auth enabled answers a request without credentials with INVALID_ARGUMENT.
  if (err instanceof Error && /user name is empty/i.test(err.message)) {
    return new UserError('ETCD_AUTH', `${where} requires credentials: ${detail}`, 'pass --user name:password (or ETCDCTL_USER / ETCDCTL_PASSWORD)', {cause: err})
  }
  // A user given (a flag, or an ETCDCTL_USER a CI secret sets) to an etcd without auth: etcd refuses the authenticate call.
  if (err instanceof Error && /authentication is not enabled/i.test(err.message)) {
    return new UserError('ETCD_AUTH', `${where} has authentication disabled, but a user was given: ${detail}`, 'drop --user/--password (and ETCDCTL_USER / ETCDCTL_PASSWORD, or user/password in the config file), or enable authentication on that etcd', {cause: err})
  }
  if (err instanceof etcd.EtcdPermissionDeniedError) {
    return new UserError('ETCD_AUTH', `${where} denied permission: ${detail}`, 'grant the user a role with read/write on the /shardctl/<cluster>/ prefix', {cause: err})
  }
  // etcd3's connection pool opens a circuit breaker (cockatiel's BrokenCircuitError) after
  // repeated failures; a paged range read then throws it instead of the connection error.
  if (isBrokenCircuit(err)) {
    return new UserError('ETCD_UNREACHABLE', `${where} is unreachable: the client stopped trying after repeated connection failures`, 'start a local one with `shardctl etcd start`, or point --endpoints / ETCDCTL_ENDPOINTS at a running etcd', {cause: err})
  }
  // Something answered on the endpoint, but not etcd: an HTTP/2 server or proxy that is not
  // gRPC answers with an HTTP status (grpc-js: "Received HTTP status code 404"), another gRPC
  // service has no etcd KV methods (UNIMPLEMENTED). The endpoint is wrong, not shardctl.
  if (err instanceof etcd.GRPCNotImplementedError || (err instanceof Error && /Received HTTP status code \d+/.test(err.message))) {
    return new UserError('ETCD_UNREACHABLE', `${where} answered, but not as etcd: ${detail}`, 'point --endpoints / ETCDCTL_ENDPOINTS at an etcd client URL (etcd listens on 2379 by default), or start a local one with `shardctl etcd start`', {cause: err})
  }
  if (err instanceof etcd.GRPCUnavailableError || err instanceof etcd.GRPCDeadlineExceededError || err instanceof etcd.GRPCCancelledError || err instanceof etcd.ClientClosedError || (err instanceof Error && /ECONNREFUSED|No connection established|UNAVAILABLE|DEADLINE_EXCEEDED|isolated/i.test(err.message))) {
    if (TLS_HINT.test(detail)) return new UserError('ETCD_AUTH', `TLS handshake with ${where} failed: ${detail}`, 'check --cacert/--cert/--key (or ETCDCTL_CACERT/CERT/KEY) and use an https:// endpoint', {cause: err})
    return new UserError('ETCD_UNREACHABLE', `${where} is unreachable${waited(elapsedMs)}: ${detail}`, 'start a local one with `shardctl etcd start`, or point --endpoints / ETCDCTL_ENDPOINTS at a running etcd', {cause: err})
  }
  return err
}

/**
 * waited says how long the call waited in all, when that was long: etcd3 retries a call that
 * timed out (three tries of the 5 s deadline against an endpoint that accepts and never
 * answers), so gRPC's "Deadline exceeded after 5.0s" alone understated a 15 s wait.
 */
function waited(elapsedMs: number | undefined): string {
  return elapsedMs !== undefined && elapsedMs >= 1000 ? ` (no answer in ${(elapsedMs / 1000).toFixed(1)} s, retries included)` : ''
}

function isBrokenCircuit(err: unknown): boolean {
  return err instanceof Error && ((err as {isBrokenCircuitError?: unknown}).isBrokenCircuitError === true || /circuit breaker is open/i.test(err.message))
}

/** conciseDetail keeps the informative core of a gRPC error message (e.g. "connect ECONNREFUSED 127.0.0.1:2379"). */
function conciseDetail(err: unknown): string {
  const text = err instanceof Error ? err.message.split('\n')[0]! : String(err)
  const sys = /((?:connect|getaddrinfo) E[A-Z]+ \S+)/.exec(text)
  if (sys) return sys[1]!.replace(/\.$/, '')
  return text.replace(/\s*Resolution note:.*$/, '').replace(/^\d+ [A-Z_]+: /, '').trim()
}
