import {UserError} from '../errors/errors.js'
import {type Capacity} from '../model/resources.js'
import {type Move, MoveSchema, PHASE_TABLE} from '../model/move.js'
import {AliveSchema, type ClusterNode, NodeSchema, type NodeState} from '../model/node.js'
import {getMeta, getNode, getStatsSummary, listAlive, listNodes, updateNode} from './clusterRepo.js'
import {listLiveNodes} from './engineLiveness.js'
import {loadPredatesMap} from './loadStaleness.js'
import {type NodeSpec} from './nodeSpec.js'
import {shardCounts} from './shardCensus.js'
import {replicaCensus, scanShards} from './shardScan.js'
import {type ServiceContext} from './serviceContext.js'

/** NodeView is a node record plus what the cluster knows about it now. */
export interface NodeView extends ClusterNode {
  alive: boolean
  replicas: number
}

/** NodeChange is the result of a command that changes one node; `changed: false` means it was already so. */
export interface NodeChange {
  node: ClusterNode
  changed: boolean
  message: string
}

/** addNode registers a new node. Throws ALREADY_EXISTS when the id is taken or BAD_INPUT when its address is. */
export async function addNode(ctx: ServiceContext, spec: NodeSpec, capacity: Capacity | undefined): Promise<NodeChange> {
  await getMeta(ctx)
  const nodes = await listNodes(ctx)
  const clash = nodes.find((n) => n.value.address === spec.address && n.value.id !== spec.id)
  if (clash) throw new UserError('BAD_INPUT', `address ${spec.address} is already used by node "${clash.value.id}"`, 'give the new node its own host:port')
  const node = NodeSchema.parse({...spec, capacity: capacity ?? {}, state: 'active', createdAt: ctx.clock().toISOString()})
  try {
    await ctx.store.create(ctx.keys.node(spec.id), JSON.stringify(node))
  } catch (err) {
    if (err instanceof UserError && err.code === 'ALREADY_EXISTS') throw new UserError('ALREADY_EXISTS', `node "${spec.id}" already exists`, 'change it with `shardctl node set`, or pick another id')
    throw err
  }
  return {node, changed: true, message: `node ${spec.id} added at ${spec.address} (zone ${spec.zone})`}
}

/** SetNodeInput lists the fields `node set` may change; absent fields stay. */
export interface SetNodeInput {
  address?: string
  zone?: string
  capacity?: Capacity
}

/** setNode changes a node's address, zone or capacity (capacity entries merge; absent stay). */
export async function setNode(ctx: ServiceContext, id: string, input: SetNodeInput): Promise<NodeChange> {
  if (input.address === undefined && input.zone === undefined && input.capacity === undefined) {
    throw new UserError('BAD_INPUT', 'node set needs at least one of --address, --zone, --capacity', 'e.g. shardctl node set n1 --capacity reads=5000')
  }
  if (input.address !== undefined) {
    const clash = (await listNodes(ctx)).find((n) => n.value.address === input.address && n.value.id !== id)
    if (clash) throw new UserError('BAD_INPUT', `address ${input.address} is already used by node "${clash.value.id}"`, 'give each node its own host:port')
  }
  const {node, changed} = await updateNode(ctx, id, (n) => {
    const next = {...n, address: input.address ?? n.address, zone: input.zone ?? n.zone, capacity: {...n.capacity, ...input.capacity}}
    return JSON.stringify(next) === JSON.stringify(n) ? 'unchanged' : next
  })
  return {node, changed, message: changed ? `node ${id} updated` : `node ${id} already has these settings`}
}

/** setNodeState cordons, uncordons or marks a node draining; repeating a state reports "already". */
export async function setNodeState(ctx: ServiceContext, id: string, state: NodeState): Promise<NodeChange> {
  const {node, changed} = await updateNode(ctx, id, (n) => (n.state === state ? 'unchanged' : {...n, state}))
  const verb = state === 'active' ? 'active (uncordoned)' : state
  return {node, changed, message: changed ? `node ${id} is now ${verb}` : `node ${id} was already ${verb}`}
}

/** listNodeViews returns every node with liveness and replica counts. */
export async function listNodeViews(ctx: ServiceContext): Promise<NodeView[]> {
  const meta = await getMeta(ctx)
  const [nodes, alive, census] = await Promise.all([listNodes(ctx), listLiveNodes(ctx, meta.value), shardCounts(ctx, meta.value.rf)])
  return nodes.map((n) => ({...n.value, alive: alive.has(n.value.id), replicas: census.replicasByNode.get(n.value.id) ?? 0}))
}

/** NODE_SHOW_LIMIT is how many of a node's shards `node show` lists unless told otherwise. */
export const NODE_SHOW_LIMIT = 100

/** NodeLoad is what a node last published about itself (its stats summary): load summed over its replicas and its clock. */
export interface NodeLoad {
  at: string
  /** replicas is how many replicas the node reported load for (it can lag the map's count by a publish). */
  replicas: number
  reads: number
  writes: number
  bytes: number
  keys: number
  clockOffsetMs: number | null
  clockOk: boolean | null
  /**
   * stale: the figures predate the shard map's latest change for this node: they name another
   * number of replicas than the map gives it now (a move took one on or off since, and the node
   * has not published again: it does as soon as it sees the change). See loadPredatesMap.
   */
  stale: boolean
}

/**
 * NodeDetail is a node view with the first `limit` shards it holds (in id order), how many
 * more it holds, and its published load (null while it publishes none: down or not serving).
 */
export type NodeDetail = NodeView & {shards: {id: number; role: string}[]; moreShards: number; load: NodeLoad | null}

/**
 * showNode returns one node with its liveness, its exact replica count (from the census) and
 * its first `limit` shards with roles (0: all), and its load from its stats summary (never its
 * per-replica load pages). Listing stops at the limit, so the time does
 * not grow with the map unless all are asked for (`shard list --node` streams them).
 */
export async function showNode(ctx: ServiceContext, id: string, limit = NODE_SHOW_LIMIT): Promise<NodeDetail> {
  if (!Number.isInteger(limit) || limit < 0) throw new UserError('BAD_INPUT', `the shard limit must be a whole number >= 0, got ${limit}`, 'pass e.g. --limit 100 (0 lists every shard)')
  const [node, meta] = await Promise.all([getNode(ctx, id), getMeta(ctx)])
  const [alive, counts, summary] = await Promise.all([listAlive(ctx), shardCounts(ctx, meta.value.rf), getStatsSummary(ctx, id)])
  const replicas = counts.replicasByNode.get(id) ?? 0
  const shards: {id: number; role: string}[] = []
  if (limit > 0 && replicas > 0) {
    // Small pages: the node's first shards are near the start of the map, and a 10,000-key page costs about a second at 100k shards.
    for await (const s of scanShards(ctx, {node: id, limit: Math.min(limit, replicas), pageSize: 1000})) shards.push({id: s.id, role: s.replicas.find((r) => r.node === id)?.role ?? 'voter'})
  } else if (limit === 0) {
    shards.push(...(await replicaCensus(ctx, meta.value.rf, id)).heldBy)
  }
  const mapReplicas = limit === 0 ? shards.length : replicas
  const load: NodeLoad | null = summary ? {at: summary.at, replicas: summary.replicas, reads: summary.reads, writes: summary.writes, bytes: summary.bytes, keys: summary.keys, clockOffsetMs: summary.clockOffsetMs ?? null, clockOk: summary.clockOk ?? null, stale: loadPredatesMap(summary.replicas, mapReplicas)} : null
  return {...node.value, alive: alive.has(id), replicas: mapReplicas, shards, moreShards: Math.max(0, mapReplicas - shards.length), load}
}

/**
 * cutOverMovesFrom lists the unfinished moves that have cut over away from `node` (its copy is
 * the outgoing one; they drop it and finish), for `node remove`'s hint. Best effort: an
 * unreadable move list leaves the hint as it was.
 */
async function cutOverMovesFrom(ctx: ServiceContext, node: string): Promise<string[]> {
  try {
    const moves = (await ctx.store.listTyped(ctx.keys.movesPrefix, MoveSchema)).items.map((m) => m.value)
    return moves.filter((m) => m.from === node && PHASE_TABLE[m.phase].cutOver && PHASE_TABLE[m.phase].track === 'forward' && !PHASE_TABLE[m.phase].terminal).map((m) => m.id)
  } catch {
    return []
  }
}

/** leavingHint is `node remove`'s way on for a node whose copies are the outgoing ones of cut-over moves: let them finish, or end a wait for a node gone for good. */
function leavingHint(node: string, moves: readonly string[]): string {
  const first = moves[0]!
  return `cut-over move(s) ${moves.slice(0, 3).join(', ')}${moves.length > 3 ? ', …' : ''} still hold its outgoing copy: let \`shardctl apply --resume\` finish them, then remove it; if ${node} is gone for good and one waits for it to refill its destination, \`shardctl moves abandon-source ${first} --accept-data-loss\` ends that wait (what only its copy holds is lost)`
}

/**
 * keptCopyMovesTo lists the unfinished moves that abort or roll back away from `node` with no
 * repair from its copy recorded: once the destination has left the shard, that copy (kept
 * outside the map) may be the only one up of a write acknowledged at w = 1, and the move
 * repairs the voters from it before dropping it (src/executor/moveMachine.ts dropKeptCopy).
 * Not best effort: an unreadable move list throws, and nothing is removed.
 */
async function keptCopyMovesTo(ctx: ServiceContext, node: string): Promise<Move[]> {
  const moves = (await ctx.store.listTyped(ctx.keys.movesPrefix, MoveSchema)).items.map((m) => m.value)
  return moves.filter((m) => m.to === node && !PHASE_TABLE[m.phase].terminal && PHASE_TABLE[m.phase].track !== 'forward' && m.keptCopyRepair === undefined)
}

/** RemoveNodeOptions: `acceptDataLoss` removes a destination whose copy unfinished moves keep (their loss warning says what is lost). */
export interface RemoveNodeOptions {
  acceptDataLoss?: boolean
}

/**
 * removeNode deletes a node record; only an empty node may go (PRECONDITION otherwise,
 * naming how many replicas it still holds), and not the destination of an abort or rollback
 * that has not repaired the voters from its copy yet (PRECONDITION, naming the move) unless
 * `acceptDataLoss`: that move then ends with a `kept-copy:` loss warning if the copy may have
 * held an acknowledged write no voter up holds. Removing an absent node succeeds, changing
 * nothing, and says the node is not in the cluster.
 */
export async function removeNode(ctx: ServiceContext, id: string, opts: RemoveNodeOptions = {}): Promise<{id: string; changed: boolean; message: string}> {
  const node = await ctx.store.get(ctx.keys.node(id))
  if (!node) {
    await getMeta(ctx)
    // Still success (a retried removal must not fail), but a typo must not read as one: say what is known.
    return {id, changed: false, message: `node ${id} is not in the cluster: nothing to remove (removed already, or a typo: see \`shardctl node list\`)`}
  }
  const held = (await replicaCensus(ctx, (await getMeta(ctx)).value.rf, id)).heldBy
  if (held.length > 0) {
    const leaving = await cutOverMovesFrom(ctx, id)
    throw new UserError('PRECONDITION', `node "${id}" still holds ${held.length} replica(s) (shards ${held.slice(0, 5).map((s) => s.id).join(', ')}${held.length > 5 ? ', …' : ''})`, leaving.length > 0 ? leavingHint(id, leaving) : `move them off first: \`shardctl node drain ${id}\``)
  }
  // Read after the shard map: a move's destination leaves the map in the same transaction that records its abort (or
  // rollback), so a destination the census found out of the map is seen here in that move's phase.
  const keeping = await keptCopyMovesTo(ctx, id)
  if (keeping.length > 0 && opts.acceptDataLoss !== true) {
    const m = keeping[0]!
    throw new UserError(
      'PRECONDITION',
      `node "${id}" is the destination of move ${m.id} (${m.phase}, shard ${m.shard}), whose copy it still holds${keeping.length > 1 ? ` (and ${keeping.length - 1} more move(s))` : ''}: at w = 1 that copy may be the only one of an acknowledged write until the move repairs the voters from it`,
      `let \`shardctl apply --resume\` finish the move (start ${id} if it is down), then remove it; if ${id} is gone for good, \`shardctl node remove ${id} --accept-data-loss\` lets the move end without it (with a warning of possible data loss when its copy may have held a write no voter up holds)`,
    )
  }
  // claims/<id> and marks/<id> go with the record: an id added again later is a new node, any dir its first.
  const removed = await ctx.store.commit({compares: [{key: ctx.keys.node(id), modRevision: node.modRevision}], deletes: [ctx.keys.node(id), ctx.keys.claim(id), ctx.keys.mark(id)]})
  if (removed === undefined) throw new UserError('CONFLICT', `node "${id}" changed while it was being removed`, 'retry the command')
  // An empty node may still run: nothing else would tell the operator its process is now idle for good.
  // Best effort: the record is gone already, and an unreadable alive entry must not turn that into a failure.
  const alive = await ctx.store.getTyped(ctx.keys.alive(id), AliveSchema).catch(() => undefined)
  const running = alive ? `; its \`shardctl node serve\` (pid ${alive.value.pid} at ${alive.value.address}) is still running: stop it, as no shard will be placed on it` : ''
  const forced = keeping.length > 0 ? `; move(s) ${keeping.map((m) => m.id).join(', ')} kept its copy: they end without it, with a warning of possible data loss when it may have held a write no voter up holds (moves show)` : ''
  return {id, changed: true, message: `node ${id} removed${forced}${running}`}
}
