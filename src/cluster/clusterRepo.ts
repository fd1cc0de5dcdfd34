import {UserError, isUserError} from '../errors/errors.js'
import {type Typed} from '../etcd/etcdStore.js'
import {lastSegment} from '../etcd/keys.js'
import {type ClusterMeta, ClusterMetaSchema} from '../model/cluster.js'
import {ConstraintsSchema, type PlacementConstraint} from '../model/constraints.js'
import {type Control, ControlSchema} from '../model/control.js'
import {AliveSchema, type ClusterNode, NodeSchema} from '../model/node.js'
import {type Shard, ShardSchema} from '../model/shard.js'
import {shardIdRuns} from '../model/shardIdRuns.js'
import {type NodeStats, type NodeStatsSummary, NodeStatsSummarySchema, type ShardLoadPage, ShardLoadPageSchema} from '../model/stats.js'
import {joinNodeStats} from '../stats/statsPages.js'
import {type ServiceContext} from './serviceContext.js'

/**
 * getMeta reads the cluster meta. Throws UserError(NOT_FOUND) when the cluster was never
 * initialised, naming it and the command that creates it.
 */
export async function getMeta(ctx: ServiceContext): Promise<Typed<ClusterMeta>> {
  const meta = await ctx.store.getTyped(ctx.keys.meta, ClusterMetaSchema)
  if (!meta) throw new UserError('NOT_FOUND', `cluster "${ctx.cluster}" does not exist in etcd`, `create it with \`shardctl cluster init --cluster ${ctx.cluster} --shards N --rf R --nodes id=host:port,...\` or pick another with --cluster`)
  return meta
}

/** listNodes returns every node record in id order. */
export async function listNodes(ctx: ServiceContext): Promise<Typed<ClusterNode>[]> {
  return (await ctx.store.listTyped(ctx.keys.nodesPrefix, NodeSchema)).items
}

/**
 * getNode reads one node. Throws UserError(NOT_FOUND) naming it when absent, or naming the
 * cluster when that does not exist (a mistyped --cluster is not a missing node; checked only
 * on that path, as removeNode does).
 */
export async function getNode(ctx: ServiceContext, id: string): Promise<Typed<ClusterNode>> {
  const node = await ctx.store.getTyped(ctx.keys.node(id), NodeSchema)
  if (node) return node
  await getMeta(ctx)
  throw new UserError('NOT_FOUND', `node "${id}" does not exist in cluster "${ctx.cluster}"`, 'list nodes with `shardctl node list`')
}

/** listShards returns every shard in id order, read at one revision (paged). */
export async function listShards(ctx: ServiceContext): Promise<{shards: Typed<Shard>[]; revision: bigint}> {
  const {items, revision} = await ctx.store.listTyped(ctx.keys.shardsPrefix, ShardSchema)
  return {shards: items, revision}
}

/**
 * getShard reads one shard. Throws UserError(NOT_FOUND) when absent; the message names the
 * ids the cluster does have (read only on that path), so a typo is fixed without a second command.
 */
export async function getShard(ctx: ServiceContext, id: number): Promise<Typed<Shard>> {
  const shard = await ctx.store.getTyped(ctx.keys.shard(id), ShardSchema)
  if (shard) return shard
  throw new UserError('NOT_FOUND', `shard ${id} does not exist in cluster "${ctx.cluster}"; ${await describeShardIds(ctx)}`, 'list shards with `shardctl shard list`')
}

/** describeShardIds says which shard ids the cluster has, as runs ("this cluster has shards 0..7"), for errors about an id it lacks. */
export async function describeShardIds(ctx: ServiceContext): Promise<string> {
  const ids = (await listShards(ctx)).shards.map((s) => s.value.id)
  return ids.length === 0 ? 'this cluster has no shards' : `this cluster has shards ${shardIdRuns(ids)}`
}

/** listAlive returns the ids of nodes whose leased liveness key exists. */
export async function listAlive(ctx: ServiceContext): Promise<Set<string>> {
  const {items} = await ctx.store.listTyped(ctx.keys.alivePrefix, AliveSchema)
  return new Set(items.map((i) => lastSegment(i.key)))
}

/**
 * listStats returns every node's latest published load stats with per-replica load: the
 * summaries and every load page (O(replicas in the cluster); see joinNodeStats for what a
 * read between two publishes sees). Views that need only per-node totals read
 * {@link listStatsSummaries}.
 */
export async function listStats(ctx: ServiceContext): Promise<NodeStats[]> {
  const [summaries, pages] = await Promise.all([listStatsSummaries(ctx), ctx.store.listTyped(ctx.keys.loadsPrefix, ShardLoadPageSchema)])
  const byNode = new Map<string, ShardLoadPage[]>()
  for (const {value} of pages.items) byNode.set(value.node, [...(byNode.get(value.node) ?? []), value])
  return summaries.map((s) => joinNodeStats(s, byNode.get(s.node) ?? []))
}

/** listStatsSummaries returns every publishing node's stats summary (load totals, clock): O(nodes), whatever they hold. */
export async function listStatsSummaries(ctx: ServiceContext): Promise<NodeStatsSummary[]> {
  return (await ctx.store.listTyped(ctx.keys.statsPrefix, NodeStatsSummarySchema)).items.map((i) => i.value)
}

/** getStatsSummary returns node `id`'s stats summary, or undefined while it publishes none (down, or not serving yet). */
export async function getStatsSummary(ctx: ServiceContext, id: string): Promise<NodeStatsSummary | undefined> {
  return (await ctx.store.getTyped(ctx.keys.stats(id), NodeStatsSummarySchema))?.value
}

/** readNodeStats returns node `id`'s published stats with its per-replica load (its summary and its load pages), or undefined while it publishes none. */
export async function readNodeStats(ctx: ServiceContext, id: string): Promise<NodeStats | undefined> {
  const [summary, pages] = await Promise.all([getStatsSummary(ctx, id), ctx.store.listTyped(ctx.keys.nodeLoads(id), ShardLoadPageSchema)])
  return summary && joinNodeStats(summary, pages.items.map((i) => i.value))
}

/** getConstraints returns the placement constraints (empty when none were set). */
export async function getConstraints(ctx: ServiceContext): Promise<PlacementConstraint[]> {
  return (await ctx.store.getTyped(ctx.keys.constraints, ConstraintsSchema))?.value.items ?? []
}

/** getControl returns the executor controls, or the defaults when unset. */
export async function getControl(ctx: ServiceContext): Promise<Control> {
  return (await ctx.store.getTyped(ctx.keys.control, ControlSchema))?.value ?? {paused: false, throttleBytesPerSec: null, updatedAt: new Date(0).toISOString()}
}

/** MutateResult is what a read-mutate-write callback returns: the new value, or `unchanged` (no write). */
export type MutateResult<T> = T | 'unchanged'

/**
 * updateNode re-reads node `id`, applies `mutate` and writes it back with CAS, retrying on
 * concurrent change (bounded). Returns the stored node and whether anything was written.
 * Throws NOT_FOUND, or whatever `mutate` throws (e.g. PRECONDITION).
 */
export async function updateNode(ctx: ServiceContext, id: string, mutate: (n: ClusterNode) => MutateResult<ClusterNode>): Promise<{node: ClusterNode; changed: boolean}> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const current = await getNode(ctx, id)
    const next = mutate(structuredClone(current.value))
    if (next === 'unchanged') return {node: current.value, changed: false}
    const valid = NodeSchema.parse(next)
    try {
      await ctx.store.update(ctx.keys.node(id), JSON.stringify(valid), current.modRevision)
      return {node: valid, changed: true}
    } catch (err) {
      if (!isUserError(err, 'CONFLICT')) throw err
    }
  }
  throw new UserError('CONFLICT', `node "${id}" kept changing concurrently; gave up after 10 attempts`, 'retry the command')
}
