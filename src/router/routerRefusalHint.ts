import {type ErrorCode} from '../errors/codes.js'
import {MAX_KEY_BYTES, MAX_VALUE_BYTES} from '../model/recordLimits.js'

/**
 * routerRefusalHint says how to fix what a router refused, by the refusal's code. The
 * router's answer carries only a code and a message (its body is `{code, message}`), so
 * without this `kv` printed the what with no fix, against the CLI's `Error: <what> — <fix>`
 * rule. Undefined for codes a client cannot fix by itself.
 */
export function routerRefusalHint(code: ErrorCode): string | undefined {
  switch (code) {
    case 'TOO_LARGE':
      return `a value is at most ${MAX_VALUE_BYTES / 2 ** 20} MiB and a key at most ${MAX_KEY_BYTES} bytes: store a larger object elsewhere and put a reference to it`
    case 'QUORUM_FAILED':
      return 'retry; check the failed nodes with `shardctl node list`'
    case 'NOT_SERVING':
      return 'retry in a moment, or pass --router another router (`shardctl cluster status` lists them)'
    case 'UNAUTHORIZED':
      return "pass the user's token with --auth-token-file (from `shardctl user add --token-file`) or its client certificate with --tls-cert/--tls-key, and check that --router names a router, not a node"
    case 'FORBIDDEN':
      return 'use a user with a role granting this access on a prefix of the key (`shardctl user list`, `shardctl role list`)'
    case 'TLS_REQUIRED':
      return 'pass --tls-ca with the cluster CA certificate (e.g. certs/ca.crt from `shardctl cert create-ca`)'
    case 'CLOCK_OFFSET':
      return "fix the router host's clock (NTP); writes resume by themselves once it is back within --max-clock-offset of its peers"
    case 'STALE_EPOCH':
    case 'NOT_OWNER':
      return 'retry: the shard moved while the request was on its way'
    default:
      return undefined
  }
}
