import {listAlive} from '../cluster/clusterRepo.js'
import {lastSegment} from '../etcd/keys.js'
import {type ServiceContext} from '../cluster/serviceContext.js'

/** NodeView is what a move runner's observation needs about the nodes: which are registered and which are alive. */
export interface NodeView {
  registered: ReadonlySet<string>
  alive: ReadonlySet<string>
}

/** NODE_VIEW_MAX_AGE_MS bounds how old a shared node view may be when a runner observes. */
export const NODE_VIEW_MAX_AGE_MS = 250

/**
 * sharedNodeView returns a reader of the registered and alive nodes that every move runner
 * of one executor shares: concurrent callers wait on the same pair of etcd reads, and a view
 * younger than `maxAgeMs` is served without a read. With 16 moves observing before every
 * step, each used to read both lists itself (2 of its 4 requests per step). A view at most
 * 250 ms old is what a read issued 250 ms earlier would say: the moves decide on it exactly
 * as on a slow read (liveness only ever gates waits and aborts; every write stays fenced
 * by the lock, the move's and the shard's revisions, and the nodes' epochs). A failed read is
 * not cached: each waiting caller sees the error, the next call reads again.
 */
export function sharedNodeView(ctx: ServiceContext, now: () => number, maxAgeMs = NODE_VIEW_MAX_AGE_MS): () => Promise<NodeView> {
  let cached: {at: number; view: NodeView} | undefined
  let inFlight: Promise<NodeView> | undefined
  return () => {
    if (cached && now() - cached.at < maxAgeMs) return Promise.resolve(cached.view)
    inFlight ??= (async () => {
      const started = now()
      try {
        const [nodes, alive] = await Promise.all([ctx.store.list(ctx.keys.nodesPrefix), listAlive(ctx)])
        const view: NodeView = {registered: new Set(nodes.items.map((n) => lastSegment(n.key))), alive}
        // Aged from when the read started: it says nothing newer than that.
        cached = {at: started, view}
        return view
      } finally {
        inFlight = undefined
      }
    })()
    return inFlight
  }
}
