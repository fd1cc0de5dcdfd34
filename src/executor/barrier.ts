import {listAlive} from '../cluster/clusterRepo.js'
import {UserError} from '../errors/errors.js'
import {type StoredValue} from '../etcd/etcdStore.js'
import {lastSegment} from '../etcd/keys.js'
import {type Shard} from '../model/shard.js'
import {parseRouterRecord} from '../router/routerRegistration.js'
import {isNodeRequestError} from '../node/nodeRequestError.js'
import {type ExecutorEnv} from './executorEnv.js'

/**
 * BARRIER_INTERRUPT_MS: how often a barrier still waiting asks whether the operator wants the
 * move cancelled or rolled back. Until session 21 a barrier held by a lagging router or node
 * ran to its timeout (--barrier-timeout, 30 s) before the executor looked at the move again,
 * so `moves cancel` and `moves rollback`, "within a second" everywhere else, took up to 30 s.
 * Leaving a barrier for them is safe: a cancel removes the destination (writes had a quorum
 * of the old set at every epoch of the move), a rollback from cutover flips reads back to
 * the old set (writes were joint since joining), and one from release first re-joins the
 * source under a barrier of its own, before its catch-up.
 */
export const BARRIER_INTERRUPT_MS = 500

/**
 * awaitBarrier waits until every live router has applied the shard map up to
 * `mapRevision` and every live replica in `nodes` reports epoch >= shard.epoch (the node
 * re-reads etcd when asked with a newer epoch). Nodes and routers without a lease are not
 * waited for: they stop serving until they re-read the map (see {@link routersBehind}). Throws a retriable
 * UserError(PRECONDITION) naming the laggards after barrierTimeoutMs. While it waits, every
 * {@link BARRIER_INTERRUPT_MS} it asks `interrupted` (when given): a reason ends the wait with
 * UserError(CONFLICT), which makes the runner decide the move again (not a failed attempt).
 */
export async function awaitBarrier(env: ExecutorEnv, shard: Shard, mapRevision: bigint, nodes: readonly string[], interrupted?: () => Promise<string | undefined>): Promise<void> {
  const deadline = env.now() + env.options.barrierTimeoutMs
  const pendingNodes = new Set(nodes)
  let laggingRouters: string[] = []
  let askedAt = env.now()
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
    // A barrier held by a laggard gives way to an operator's cancel or rollback (see BARRIER_INTERRUPT_MS).
    if (interrupted && env.now() - askedAt >= BARRIER_INTERRUPT_MS) {
      askedAt = env.now()
      const why = await interrupted()
      if (why) throw new UserError('CONFLICT', `left the barrier on shard ${shard.id} epoch ${shard.epoch}: ${why}`, 'the executor decides the move again')
    }
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
    const r = parseRouterRecord(kv.value)
    if (!r) out.push(`${lastSegment(kv.key)} (unreadable entry)`)
    else if (BigInt(r.mapRevision) < mapRevision) out.push(lastSegment(kv.key))
  }
  return out
}
