import {listAlive} from '../cluster/clusterRepo.js'
import {UserError} from '../errors/errors.js'
import {type StoredValue} from '../etcd/etcdStore.js'
import {lastSegment} from '../etcd/keys.js'
import {type Shard} from '../model/shard.js'
import {RouterRecordSchema} from '../router/routerRegistration.js'
import {isNodeRequestError} from '../node/nodeRequestError.js'
import {type ExecutorEnv} from './executorEnv.js'

/**
 * awaitBarrier waits until every live router has applied the shard map up to
 * `mapRevision` and every live replica in `nodes` reports epoch >= shard.epoch (the node
 * re-reads etcd when asked with a newer epoch). Nodes and routers without a lease are not
 * waited for: they stop serving until they re-read the map (see {@link routersBehind}). Throws a retriable
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
    laggingRouters = routersBehind(items, mapRevision)
    if (pendingNodes.size === 0 && laggingRouters.length === 0) return
    if (env.now() > deadline || env.stopped()) {
      throw new UserError('PRECONDITION', `barrier on shard ${shard.id} epoch ${shard.epoch} not reached: ${[...[...pendingNodes].map((n) => `node ${n}`), ...laggingRouters.map((r) => `router ${r}`)].join(', ')} behind`, 'check that those processes are healthy; the move resumes from this phase')
    }
    await env.sleep(100)
  }
}

/**
 * routersBehind names the router entries that hold a barrier at `mapRevision` back: a
 * leased entry that reports an older map revision, or that cannot be read (it may be a
 * live router routing on an old map; it blocks until its lease lapses and etcd deletes
 * it). An entry attached to no lease belongs to no live router (a live one always keeps
 * its entry on its lease) and never blocks, whatever it says.
 */
export function routersBehind(items: readonly Pick<StoredValue, 'key' | 'value' | 'lease'>[], mapRevision: bigint): string[] {
  const out: string[] = []
  for (const kv of items) {
    if (kv.lease === '0' || kv.lease === '') continue
    const parsed = RouterRecordSchema.safeParse(safeJson(kv.value))
    if (!parsed.success) out.push(`${lastSegment(kv.key)} (unreadable entry)`)
    else if (BigInt(parsed.data.mapRevision) < mapRevision) out.push(lastSegment(kv.key))
  }
  return out
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s)
  } catch {
    return undefined
  }
}
