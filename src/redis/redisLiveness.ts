import {withRedisNodeWithin} from './redisConnection.js'

/** PING_TIMEOUT_MS: a master that has not answered PING by then counts as down (status must not hang on a stuck one). */
export const PING_TIMEOUT_MS = 2000

/** pingRedisNodes returns the ids of `nodes` that answer PING within PING_TIMEOUT_MS (all at once; an unreachable one is simply absent). */
export async function pingRedisNodes(nodes: readonly {id: string; address: string}[]): Promise<Set<string>> {
  const up = await Promise.all(nodes.map(async (n) => ((await withRedisNodeWithin(n.address, PING_TIMEOUT_MS, (r) => r.ping())) === 'PONG' ? n.id : undefined)))
  return new Set(up.filter((id): id is string => id !== undefined))
}
