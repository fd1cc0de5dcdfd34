import {randomBytes, timingSafeEqual} from 'node:crypto'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {UserError, isUserError} from '../errors/errors.js'

/**
 * loadClusterToken returns the cluster's data-plane token from etcd (`secrets/token`),
 * creating a random 256-bit one when absent (create-if-absent, so concurrent first
 * starters agree on one). Nodes require it on every request; routers and the executor
 * send it. Never log it.
 */
export async function loadClusterToken(ctx: ServiceContext, opts: {create: boolean} = {create: true}): Promise<string> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = await ctx.store.get(ctx.keys.token)
    if (existing) return existing.value
    if (!opts.create) break
    const token = randomBytes(32).toString('base64url')
    try {
      await ctx.store.create(ctx.keys.token, token)
      return token
    } catch (err) {
      if (!isUserError(err, 'ALREADY_EXISTS')) throw err
    }
  }
  throw new UserError('NOT_FOUND', `cluster "${ctx.cluster}" has no data-plane token yet`, 'start a storage node (`shardctl node serve`) first; it creates one')
}

/** tokensEqual compares a presented token with the expected one in constant time (for equal lengths). */
export function tokensEqual(presented: string | undefined, expected: Buffer): boolean {
  if (presented === undefined) return false
  const p = Buffer.from(presented)
  if (p.length !== expected.length) return false
  return timingSafeEqual(p, expected)
}
