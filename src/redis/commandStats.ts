/**
 * Per-node operation counts from `INFO commandstats` (every Redis and Valkey version), pure
 * parsing and rate arithmetic: the fallback load signal where `CLUSTER SLOT-STATS` is absent.
 */

/**
 * WRITE_COMMANDS are the data commands counted as writes; every other data command counts
 * as a read. Admin and cluster commands (see {@link ADMIN_COMMANDS}) count as neither.
 */
const WRITE_COMMANDS = new Set(['set', 'setex', 'psetex', 'setnx', 'mset', 'msetnx', 'getset', 'getdel', 'getex', 'append', 'setrange', 'incr', 'incrby', 'incrbyfloat', 'decr', 'decrby', 'del', 'unlink', 'expire', 'pexpire', 'expireat', 'pexpireat', 'persist', 'rename', 'renamenx', 'copy', 'hset', 'hsetnx', 'hmset', 'hdel', 'hincrby', 'hincrbyfloat', 'lpush', 'rpush', 'lpushx', 'rpushx', 'lpop', 'rpop', 'lset', 'lrem', 'ltrim', 'linsert', 'lmove', 'rpoplpush', 'sadd', 'srem', 'spop', 'smove', 'zadd', 'zrem', 'zincrby', 'zpopmin', 'zpopmax', 'zremrangebyscore', 'zremrangebyrank', 'xadd', 'xdel', 'xtrim', 'pfadd', 'setbit', 'bitop', 'eval', 'evalsha', 'fcall', 'restore', 'restore-asking'])

/** ADMIN_COMMANDS are not client load (shardctl's own sampling and migration among them). */
const ADMIN_COMMANDS = new Set(['cluster', 'info', 'config', 'ping', 'memory', 'object', 'migrate', 'command', 'client', 'hello', 'select', 'asking', 'readonly', 'readwrite', 'auth', 'slowlog', 'latency', 'debug', 'monitor', 'replconf', 'psync', 'sync', 'dbsize', 'time', 'echo', 'quit', 'role', 'lastsave', 'save', 'bgsave', 'bgrewriteaof', 'shutdown', 'acl', 'module', 'function', 'script', 'failover', 'reset', 'scan', 'randomkey', 'keys', 'type', 'ttl', 'pttl', 'exists', 'slot-stats'])

/** OpCounts are cumulative data-command call counts of one node. */
export interface OpCounts {
  reads: number
  writes: number
}

/**
 * parseCommandStats sums the `calls=` of every `cmdstat_<name>` line of `INFO commandstats`
 * into reads and writes (subcommands such as `cmdstat_cluster|nodes` count under their
 * parent; admin commands are skipped).
 */
export function parseCommandStats(info: string): OpCounts {
  const out = {reads: 0, writes: 0}
  for (const line of info.split('\n')) {
    const m = /^cmdstat_([^:|]+)(?:\|[^:]*)?:calls=(\d+)/.exec(line.trim())
    if (!m) continue
    const name = m[1]!.toLowerCase()
    if (ADMIN_COMMANDS.has(name)) continue
    if (WRITE_COMMANDS.has(name)) out.writes += Number(m[2])
    else out.reads += Number(m[2])
  }
  return out
}

/** opsRate is the per-second rate between two readings `ms` apart (0 when the counter went backwards: a restart or CONFIG RESETSTAT). */
export function opsRate(before: OpCounts, after: OpCounts, ms: number): OpCounts {
  const per = (a: number, b: number) => (b >= a && ms > 0 ? ((b - a) * 1000) / ms : 0)
  return {reads: per(before.reads, after.reads), writes: per(before.writes, after.writes)}
}
