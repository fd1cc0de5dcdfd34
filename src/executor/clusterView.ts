import {listAlive} from '../cluster/clusterRepo.js'
import {lastSegment} from '../etcd/keys.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {NODE_STATES, type NodeState} from '../model/node.js'
import {type StoredValue} from '../store/store.js'

/** NodeView is what a move runner's observation needs about the nodes: which are registered, their states, and which are alive. */
export interface NodeView {
  registered: ReadonlySet<string>
  /** states: each registered node's state (a move not begun onto a cordoned or draining node is skipped). */
  states: ReadonlyMap<string, NodeState>
  alive: ReadonlySet<string>
}

/**
 * nodeViewOf (pure) builds a {@link NodeView} from the `nodes/` records and the alive set. A
 * record whose state cannot be read is left out of `states` (taken as active, as before states
 * were read here): the moves' other steps do not read node records, and one unreadable record
 * must not stop every move; `node list` and the planner report it.
 */
export function nodeViewOf(nodes: readonly StoredValue[], alive: ReadonlySet<string>): NodeView {
  const states = new Map<string, NodeState>()
  for (const n of nodes) {
    const state = stateOf(n.value)
    if (state) states.set(lastSegment(n.key), state)
  }
  return {registered: new Set(nodes.map((n) => lastSegment(n.key))), states, alive}
}

function stateOf(raw: string): NodeState | undefined {
  try {
    const state = (JSON.parse(raw) as {state?: unknown} | null)?.state ?? 'active'
    return NODE_STATES.find((s) => s === state)
  } catch {
    return undefined
  }
}

/** readNodeView reads the `nodes/` records and the alive leases (two etcd reads) into a {@link NodeView}. */
export async function readNodeView(ctx: ServiceContext): Promise<NodeView> {
  const [nodes, alive] = await Promise.all([ctx.store.list(ctx.keys.nodesPrefix), listAlive(ctx)])
  return nodeViewOf(nodes.items, alive)
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
        const view = await readNodeView(ctx)
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
