import {wholeNumberEnvProblem, wholeNumberEnvValue, type WholeNumberVariable} from '../config/wholeNumberEnv.js'
import {UserError} from '../errors/errors.js'

/** DEFAULT_ETCD_TIMEOUT_MS is the deadline of one unary etcd call (and of a dial) when SHARDCTL_ETCD_TIMEOUT_MS is unset. */
export const DEFAULT_ETCD_TIMEOUT_MS = 5000

/**
 * ETCD_TIMEOUT_VARIABLE is SHARDCTL_ETCD_TIMEOUT_MS: at least 100 ms (less fails every call on
 * a real network), at most 2^31-1 ms (about 24 days, the largest timer Node keeps: a longer dial
 * timeout would fire at once, like the duration flags' 24d maximum). Until session 40 any value
 * was taken: "5s" or "abc" made a NaN deadline.
 */
const ETCD_TIMEOUT_VARIABLE: WholeNumberVariable = {name: 'SHARDCTL_ETCD_TIMEOUT_MS', min: 100, max: 2_147_483_647, fix: `set milliseconds, e.g. SHARDCTL_ETCD_TIMEOUT_MS=${DEFAULT_ETCD_TIMEOUT_MS}, or unset it for the default`}

/**
 * etcdTimeoutMs (pure) is the etcd call deadline `env` sets: SHARDCTL_ETCD_TIMEOUT_MS, or
 * {@link DEFAULT_ETCD_TIMEOUT_MS} when it is unset or blank. Throws UserError(BAD_INPUT)
 * naming the variable and a valid example for any other value, before any etcd call.
 */
export function etcdTimeoutMs(env: Record<string, string | undefined>): number {
  const problem = wholeNumberEnvProblem(env, ETCD_TIMEOUT_VARIABLE)
  if (problem) throw new UserError('BAD_INPUT', problem.message, problem.fix)
  return wholeNumberEnvValue(env, ETCD_TIMEOUT_VARIABLE) ?? DEFAULT_ETCD_TIMEOUT_MS
}
