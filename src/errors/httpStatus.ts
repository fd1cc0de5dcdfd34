import {type ErrorCode} from './codes.js'

/**
 * HTTP_STATUS maps every error code to the HTTP status the data plane (storage nodes and
 * the router) answers with. Exhaustive, so a new code without a status does not compile.
 * Retriable refusals are 409 (STALE_EPOCH: refresh the shard map and retry) and 503
 * (NOT_SERVING, NODE_UNREACHABLE, QUORUM_FAILED: try another replica or later).
 */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  BAD_INPUT: 400,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  CONFLICT: 409,
  PRECONDITION: 412,
  ETCD_UNREACHABLE: 503,
  ETCD_AUTH: 503,
  CORRUPT_VALUE: 500,
  LOCK_HELD: 409,
  NEEDS_REBALANCE: 500,
  UNREACHABLE_TARGET: 500,
  MISSING_DEPENDENCY: 500,
  INTERNAL: 500,
  STALE_EPOCH: 409,
  NOT_OWNER: 421,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  // nginx's answer to plain HTTP on an HTTPS port, so proxies and people recognise it.
  TLS_REQUIRED: 400,
  POSSIBLE_DATA_LOSS: 500,
  NOT_SERVING: 503,
  TOO_LARGE: 413,
  NODE_UNREACHABLE: 503,
  QUORUM_FAILED: 503,
  CLOCK_OFFSET: 503,
  // CLI-only outcomes; the data plane never answers them.
  DECLINED: 500,
  INTERRUPTED: 500,
  INCOMPLETE: 500,
}
