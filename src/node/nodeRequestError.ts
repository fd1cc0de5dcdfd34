import {type ErrorCode} from '../errors/codes.js'
import {UserError} from '../errors/errors.js'

const RETRIABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['STALE_EPOCH', 'NOT_SERVING', 'NODE_UNREACHABLE'])

/**
 * NodeRequestError is a storage node's refusal or a failure to reach it, as NodeClient
 * throws it. `code` is the node's error code (STALE_EPOCH, NOT_OWNER, UNAUTHORIZED,
 * NOT_SERVING, BAD_INPUT, TOO_LARGE, PRECONDITION, NOT_FOUND, INTERNAL) or
 * NODE_UNREACHABLE for connection failures and timeouts (`status` 0). `nodeEpoch` is the
 * node's epoch for the shard when it said (STALE_EPOCH: refresh the map to at least it).
 */
export class NodeRequestError extends UserError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly node: string,
    readonly status: number,
    readonly nodeEpoch?: number,
    options?: {cause?: unknown},
  ) {
    super(code, message, undefined, options)
    this.name = 'NodeRequestError'
  }

  /** retriable is true when the same request may succeed later or elsewhere (after a map refresh for STALE_EPOCH). */
  get retriable(): boolean {
    return RETRIABLE.has(this.code)
  }
}

/** isNodeRequestError narrows to a {@link NodeRequestError}, optionally of one code. */
export function isNodeRequestError(err: unknown, code?: ErrorCode): err is NodeRequestError {
  return err instanceof NodeRequestError && (code === undefined || err.code === code)
}
