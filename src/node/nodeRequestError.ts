import {type ErrorCode} from '../errors/codes.js'
import {UserError} from '../errors/errors.js'

/**
 * NodeRequestErrorWire is a {@link NodeRequestError} as plain, structured-clone-safe data,
 * for crossing a thread boundary: every field, each key required so that toWire cannot
 * leave one out and still compile. `cause` stays behind: it is the other thread's object
 * (an undici error, not always cloneable), and `message` already describes it.
 */
export interface NodeRequestErrorWire {
  code: ErrorCode
  message: string
  node: string
  status: number
  nodeEpoch: number | undefined
  timedOut: boolean
  storageFull: boolean
  hint: string | undefined
}

const RETRIABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['STALE_EPOCH', 'NOT_SERVING', 'NODE_UNREACHABLE'])

/**
 * NodeRequestError is a storage node's refusal or a failure to reach it, as NodeClient
 * throws it. `code` is the node's error code (STALE_EPOCH, NOT_OWNER, UNAUTHORIZED,
 * NOT_SERVING, BAD_INPUT, TOO_LARGE, PRECONDITION, NOT_FOUND, INTERNAL) or
 * NODE_UNREACHABLE for connection failures and timeouts (`status` 0). `nodeEpoch` is the
 * node's epoch for the shard when it said (STALE_EPOCH: refresh the map to at least it).
 * `timedOut` is true when the request's own time bound ran out before the node answered
 * (NodeClient's timeout, or a batched caller's deadline in the router's ApplyBatcher), as
 * opposed to a refused connection or a coded refusal. It is set where that timer is
 * known and never read back from the message, which is free text for humans.
 */
export class NodeRequestError extends UserError {
  readonly timedOut: boolean
  /** storageFull is true for a NOT_SERVING the node answered for want of disk space (its body's `storageFull`): it lasts, unlike the other NOT_SERVING refusals. */
  readonly storageFull: boolean

  constructor(
    code: ErrorCode,
    message: string,
    readonly node: string,
    readonly status: number,
    readonly nodeEpoch?: number,
    options?: {cause?: unknown; timedOut?: boolean; storageFull?: boolean; hint?: string},
  ) {
    super(code, message, options?.hint, options)
    this.name = 'NodeRequestError'
    this.timedOut = options?.timedOut ?? false
    this.storageFull = options?.storageFull ?? false
  }

  /** retriable is true when the same request may succeed later or elsewhere (after a map refresh for STALE_EPOCH). */
  get retriable(): boolean {
    return RETRIABLE.has(this.code)
  }

  /** toWire is this error as {@link NodeRequestErrorWire}; {@link NodeRequestError.fromWire} rebuilds it. */
  toWire(): NodeRequestErrorWire {
    return {code: this.code, message: this.message, node: this.node, status: this.status, nodeEpoch: this.nodeEpoch, timedOut: this.timedOut, storageFull: this.storageFull, hint: this.hint}
  }

  /** fromWire rebuilds the error {@link NodeRequestError.toWire} described: same class and fields, without its cause. */
  static fromWire(w: NodeRequestErrorWire): NodeRequestError {
    return new NodeRequestError(w.code, w.message, w.node, w.status, w.nodeEpoch, {timedOut: w.timedOut, storageFull: w.storageFull, hint: w.hint})
  }
}

/** isNodeRequestError narrows to a {@link NodeRequestError}, optionally of one code. */
export function isNodeRequestError(err: unknown, code?: ErrorCode): err is NodeRequestError {
  return err instanceof NodeRequestError && (code === undefined || err.code === code)
}
