import {type ErrorCode} from '../errors/codes.js'
import {UserError} from '../errors/errors.js'

/** ReplicaFailure names one replica that did not answer a quorum request, and why. */
export interface ReplicaFailure {
  node: string
  code: ErrorCode
  message: string
  /**
   * timedOut is present, and true, only when the request's own time bound ran out before
   * the replica answered (NodeRequestError.timedOut): a client reading the 503 body can
   * tell a slow replica from a refused one without parsing the message, and a body of
   * refusals stays as small as before.
   */
  timedOut?: true
}

/**
 * QuorumError is a read or write that did not reach its quorum: too few replicas of
 * `shard` answered. The router answers it with 503 and a JSON body naming the shard and
 * each failed replica with its reason; the client may retry.
 */
export class QuorumError extends UserError {
  constructor(
    readonly op: 'read' | 'write',
    readonly shard: number,
    readonly epoch: number,
    readonly needed: string,
    readonly failed: ReplicaFailure[],
  ) {
    super(
      'QUORUM_FAILED',
      `${op} quorum not reached for shard ${shard} (epoch ${epoch}, needed ${needed}): ${failed.map((f) => `${f.node} ${f.code}`).join(', ') || 'no replica available'}`,
      'retry; check the failed nodes with `shardctl node list`',
    )
    this.name = 'QuorumError'
  }
}
