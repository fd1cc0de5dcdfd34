import {listAlive} from '../cluster/clusterRepo.js'
import {UserError} from '../errors/errors.js'
import {lastSegment} from '../etcd/keys.js'
import {type Shard} from '../model/shard.js'
import {RouterRecordSchema} from '../router/routerRegistration.js'
import {isNodeRequestError} from '../node/nodeRequestError.js'
import {type ExecutorEnv} from './executorEnv.js'

/**
 * awaitBarrier waits until every live router has applied the shard map up to
 * `mapRevision` and every live replica in `nodes` reports epoch >= shard.epoch (the node
 * re-reads etcd when asked with a newer epoch). Nodes and routers without a lease are not
 * waited for: they stop serving until they re-read the map. Throws a retriable
 * UserError(PRECONDITION) naming the laggards after barrierTimeoutMs.
 */
export async function awaitBarrier(env: ExecutorEnv, shard: Shard, mapRevision: bigint, nodes: readonly string[]): Promise<void> {
  const deadline = env.now() + env.options.barrierTimeoutMs
  const pendingNodes = new Set(nodes)
  let laggingRouters: string[] = []
  for (;;) {
    const alive = await listAlive(env.ctx)
    for (const id of [...pendingNodes]) {
      if (!alive.has(id)) {
        pendingNodes.delete(id)
        continue
      }
      try {
        const res = await (await env.client(id)).accept(shard.id, shard.epoch, {timeoutMs: 2000})
        if (res.epoch >= shard.epoch) pendingNodes.delete(id)
      } catch (err) {
        // An unreachable or briefly non-serving node is waited for until the deadline.
        if (!isNodeRequestError(err)) throw err
      }
    }
    const {items} = await env.ctx.store.list(env.ctx.keys.routersPrefix)
    laggingRouters = []
    for (const kv of items) {
      const parsed = RouterRecordSchema.safeParse(safeJson(kv.value))
      if (!parsed.success || BigInt(parsed.data.mapRevision) < mapRevision) laggingRouters.push(lastSegment(kv.key))
    }
    if (pendingNodes.size === 0 && laggingRouters.length === 0) return
    if (env.now() > deadline || env.stopped()) {
      throw new UserError('PRECONDITION', `barrier on shard ${shard.id} epoch ${shard.epoch} not reached: ${[...[...pendingNodes].map((n) => `node ${n}`), ...laggingRouters.map((r) => `router ${r}`)].join(', ')} behind`, 'check that those processes are healthy; the move resumes from this phase')
    }
    await env.sleep(100)
  }
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s)
  } catch {
    return undefined
  }
}
