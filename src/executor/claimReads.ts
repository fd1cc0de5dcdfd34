import {isUserError} from '../errors/errors.js'
import {NodeClaimSchema} from '../model/node.js'
import {type ExecutorEnv} from './executorEnv.js'
import {dirToken, type ObservedClaim} from './verifiedDirs.js'

/**
 * readClaims reads the `claims/<id>` of `nodes` (one read each, concurrent): which process and data dir serve them now,
 * for verifiedDirs.ts. An unreadable claim (a value no build writes) is left out, not judged; an unreachable store throws.
 */
export async function readClaims(env: Pick<ExecutorEnv, 'ctx'>, nodes: readonly string[]): Promise<ReadonlyMap<string, ObservedClaim>> {
  const read = await Promise.all(
    nodes.map(async (n): Promise<[string, ObservedClaim] | undefined> => {
      try {
        const c = await env.ctx.store.getTyped(env.ctx.keys.claim(n), NodeClaimSchema)
        return [n, {token: dirToken(c?.value), modRevision: c?.modRevision ?? 0n}]
      } catch (err) {
        // Only a value that does not parse; an unreachable store fails the observation (retried).
        if (!isUserError(err, 'CORRUPT_VALUE')) throw err
        return undefined
      }
    }),
  )
  return new Map(read.filter((e) => e !== undefined))
}
