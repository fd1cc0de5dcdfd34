/**
 * ERROR_CODES is the one table of error codes shardctl can raise. Exhaustive
 * `Record<ErrorCode, …>` maps (exit codes here, HTTP statuses in the router) make a new
 * code without a mapping fail to compile.
 */
export const ERROR_CODES = [
  'BAD_INPUT', // malformed flag, file, plan, snapshot or request
  'NOT_FOUND', // a named node, shard, move or cluster does not exist
  'ALREADY_EXISTS', // create refused: the thing is already there
  'CONFLICT', // a compare-and-swap lost (someone else changed it)
  'PRECONDITION', // the request is well formed but the cluster state forbids it
  'ETCD_UNREACHABLE', // no etcd endpoint answered
  'ETCD_AUTH', // etcd refused the credentials or TLS handshake
  'CORRUPT_VALUE', // a value read from etcd failed validation
  'LOCK_HELD', // another process holds the lock
  'NEEDS_REBALANCE', // plan --check: cluster outside its balance target
  'UNREACHABLE_TARGET', // plan --check: the target cannot be reached
  'MISSING_DEPENDENCY', // an external binary (etcd) is not installed
  'STALE_EPOCH', // data plane: the request carried an older shard epoch than the node knows (retriable: refresh the map)
  'NOT_OWNER', // data plane: the node holds no replica of the shard in a role that allows the request
  'UNAUTHORIZED', // data plane: missing or wrong cluster token
  'NOT_SERVING', // data plane: the node is starting, shutting down or re-registering after a lost lease, or its disk has no room for a write (retriable)
  'TOO_LARGE', // data plane: a request body, key or value over its limit
  'NODE_UNREACHABLE', // data plane: a node did not answer (connection refused, reset or timed out)
  'QUORUM_FAILED', // router: too few replicas of a shard answered to reach the read or write quorum
  'CLOCK_OFFSET', // data plane: a version too far ahead of the receiver's clock, or this member's clock is off from its peers by more than --max-clock-offset (retriable once clocks agree)
  'DECLINED', // the operator answered "no" to a confirmation question: nothing was recorded or changed
  'INTERRUPTED', // stopped by Ctrl-C / SIGTERM before it finished; what was recorded resumes with `apply --resume`
  'POSSIBLE_DATA_LOSS', // a move ran, but carries a warning that acknowledged data may be lost: a master it used restarted without persistence, or (kv) it went on without an abandoned source or its destination lost its copy after the source dropped its own (the move's warnings say what)
  'INCOMPLETE', // ran to its end without reaching its goal (a move aborted or failed, a drained node still holds replicas)
  'FORBIDDEN', // router: the credentials are valid but no role of the user allows this operation on this key
  'TLS_REQUIRED', // data plane: a plaintext peer reached a TLS-only port or cluster
  'INTERNAL', // a bug
] as const

/** ErrorCode is one code of {@link ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[number]

/**
 * EXIT_CODES maps every error code to the process exit code the CLI uses. Documented in
 * the README; scripts and CI depend on these numbers, so never renumber one.
 */
export const EXIT_CODES: Record<ErrorCode, number> = {
  INTERNAL: 1,
  PRECONDITION: 1,
  NOT_FOUND: 1,
  BAD_INPUT: 2,
  ETCD_UNREACHABLE: 3,
  ETCD_AUTH: 4,
  CORRUPT_VALUE: 5,
  ALREADY_EXISTS: 6,
  CONFLICT: 7,
  LOCK_HELD: 8,
  MISSING_DEPENDENCY: 9,
  NEEDS_REBALANCE: 10,
  UNREACHABLE_TARGET: 11,
  STALE_EPOCH: 12,
  NOT_OWNER: 13,
  UNAUTHORIZED: 14,
  NOT_SERVING: 15,
  TOO_LARGE: 16,
  NODE_UNREACHABLE: 17,
  QUORUM_FAILED: 18,
  CLOCK_OFFSET: 20,
  FORBIDDEN: 21,
  TLS_REQUIRED: 22,
  // 1, as `apply` always exited when a move aborted: scripts already read it as "did not finish".
  INCOMPLETE: 1,
  POSSIBLE_DATA_LOSS: 23,
  DECLINED: 19,
  // 128 + SIGINT, what shells report for a Ctrl-C'd program.
  INTERRUPTED: 130,
}
