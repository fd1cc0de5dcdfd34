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
 * Throws UserError(BAD_INPUT) for an address that is not host:port.
 */
export async function connectRedisNode(address: string): Promise<Redis> {
  const parsed = AddressSchema.safeParse(address)
  if (!parsed.success) throw new UserError('BAD_INPUT', `redis address "${address}" is not host:port`, 'e.g. --seed 127.0.0.1:7000')
  const i = address.lastIndexOf(':')
  const host = address.slice(0, i).replace(/^\[|\]$/g, '')
  const r = new Redis({host, port: Number(address.slice(i + 1)), lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 5000, commandTimeout: REDIS_COMMAND_TIMEOUT_MS})
  r.on('error', () => {}) // failures surface on the command that hits them
  try {
    await r.connect()
  } catch (err) {
    r.disconnect()
    throw new UserError('NODE_UNREACHABLE', `redis node ${address} did not answer: ${(err as Error).message}`, 'check the address and that redis-server runs in cluster mode there')
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
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => {
      expired = true
      conn?.disconnect()
      resolve(undefined)
    }, timeoutMs)
  })
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
  try {
    return await Promise.race([run, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** readClusterNodes is the parsed `CLUSTER NODES` view of the node `r` is connected to. */
export async function readClusterNodes(r: Redis): Promise<RedisClusterNode[]> {
  return parseClusterNodes(String(await clusterCommand(r, 'NODES')))
}

/** clusterCommand sends `CLUSTER <args>` and returns the reply as text (or the raw reply for arrays). */
export async function clusterCommand(r: Redis, ...args: (string | number)[]): Promise<unknown> {
  return r.call('CLUSTER', ...args.map(String))
}
