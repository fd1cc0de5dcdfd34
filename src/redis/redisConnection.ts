import {boundedWait} from '../clock/boundedWait.js'
import {Redis} from 'ioredis'
import {UserError} from '../errors/errors.js'
import {AddressSchema} from '../model/ids.js'
import {parseClusterNodes, type RedisClusterNode} from './clusterNodes.js'

/** RedisCommandTimeoutMs bounds every admin command shardctl sends (MIGRATE batches carry their own timeout). */
export const REDIS_COMMAND_TIMEOUT_MS = 10_000

/**
 * connectRedisNode opens a plain (not cluster-aware) connection to one Redis node, for admin
 * commands addressed to that node. No offline queue, no reconnect loop: a node that does not
 * answer fails fast with UserError(NODE_UNREACHABLE) naming it. The caller disconnects.
 * Throws UserError(BAD_INPUT) for an address that is not host:port, and for a node that wants
 * a password (NOAUTH/WRONGPASS: shardctl has no way to give one).
 */
export async function connectRedisNode(address: string): Promise<Redis> {
  const parsed = AddressSchema.safeParse(address)
  if (!parsed.success) throw new UserError('BAD_INPUT', `redis address "${address}" is not host:port`, 'e.g. --seed 127.0.0.1:7000')
  const i = address.lastIndexOf(':')
  const host = address.slice(0, i).replace(/^\[|\]$/g, '')
  const r = new Redis({host, port: Number(address.slice(i + 1)), lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 5000, commandTimeout: REDIS_COMMAND_TIMEOUT_MS})
  // Failures surface on the command that hits them; the last one is kept, since a refused ready
  // check (NOAUTH) rejects connect() only with "Connection is closed".
  let lastError: Error | undefined
  r.on('error', (e: Error) => (lastError = e))
  try {
    await r.connect()
  } catch (err) {
    r.disconnect()
    const message = /\b(NOAUTH|WRONGPASS)\b/.test(String(lastError?.message)) ? lastError!.message : (err as Error).message
    // It did answer: the ready check (INFO) was refused for want of a password, which a restart in cluster mode would not fix.
    if (/\b(NOAUTH|WRONGPASS)\b/.test(message)) throw new UserError('BAD_INPUT', `redis node ${address} wants a password (${message})`, 'shardctl does not authenticate to Redis (it has no password or ACL user option): drive a cluster whose default user needs no password, reachable only where shardctl runs')
    throw new UserError('NODE_UNREACHABLE', `redis node ${address} did not answer: ${message}`, 'check the address and that redis-server runs in cluster mode there')
  }
  return r
}

/** withRedisNode runs `fn` on a fresh connection to `address` and always disconnects. */
export async function withRedisNode<T>(address: string, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = await connectRedisNode(address)
  try {
    return await fn(r)
  } finally {
    r.disconnect()
  }
}

/**
 * withRedisNodeWithin is {@link withRedisNode} bounded in time: `fn`'s answer, or undefined
 * when the node does not answer (connecting or running `fn`) within `timeoutMs` or fails. On
 * expiry the connection is closed at once, so a stopped node keeps nothing open (status and
 * probes must not hang on one).
 */
export async function withRedisNodeWithin<T>(address: string, timeoutMs: number, fn: (r: Redis) => Promise<T>): Promise<T | undefined> {
  let conn: Redis | undefined
  let expired = false
  const run = (async () => {
    try {
      conn = await connectRedisNode(address)
      if (expired) return undefined
      return await fn(conn)
    } catch {
      return undefined
    } finally {
      conn?.disconnect()
    }
  })()
  const out = await boundedWait(run, timeoutMs)
  if (out.done) return out.value
  expired = true
  conn?.disconnect()
  return undefined
}

/** readClusterNodes is the parsed `CLUSTER NODES` view of the node `r` is connected to. */
export async function readClusterNodes(r: Redis): Promise<RedisClusterNode[]> {
  return parseClusterNodes(String(await clusterCommand(r, 'NODES')))
}

/** clusterCommand sends `CLUSTER <args>` and returns the reply as text (or the raw reply for arrays). */
export async function clusterCommand(r: Redis, ...args: (string | number)[]): Promise<unknown> {
  return r.call('CLUSTER', ...args.map(String))
}
