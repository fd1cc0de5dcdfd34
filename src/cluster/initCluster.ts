import {randomUUID} from 'node:crypto'
import {UserError} from '../errors/errors.js'
import {MAX_TXN_OPS, type Txn} from '../etcd/etcdStore.js'
import {type ClusterMeta} from '../model/cluster.js'
import {HASH_NAME} from '../model/hash.js'
import {type ClusterNode} from '../model/node.js'
import {evenRanges} from '../model/range.js'
import {type Shard} from '../model/shard.js'
import {newWriteFloor} from '../model/writeFloor.js'
import {PlacementRing} from '../placement/ring.js'
import {type NodeSpec} from './nodeSpec.js'
import {censusBasePut} from './shardCensus.js'
import {type ServiceContext} from './serviceContext.js'

/** InitClusterInput are the settings of a new cluster. */
export interface InitClusterInput {
  shards: number
  rf: number
  nodes: NodeSpec[]
  force: boolean
}

/** InitClusterResult is what `cluster init` reports (and prints with --json). */
export interface InitClusterResult {
  cluster: string
  rf: number
  shards: number
  nodes: {id: string; address: string; zone: string; replicas: number}[]
  replaced: boolean
}

/**
 * planInitialLayout is the pure part of init: even hash ranges, replicas placed with the
 * consistent-hash ring (never two on one node, zones spread when there are >= rf zones).
 * Throws UserError(BAD_INPUT) for impossible settings.
 */
export function planInitialLayout(input: Omit<InitClusterInput, 'force'>, now: string): {nodes: ClusterNode[]; shards: Shard[]} {
  const {shards: count, rf, nodes: specs} = input
  if (!Number.isInteger(count) || count < 1 || count > 2 ** 20) throw new UserError('BAD_INPUT', `--shards must be an integer in 1..${2 ** 20}, got ${count}`, 'e.g. --shards 64')
  if (!Number.isInteger(rf) || rf < 1 || rf > 7) throw new UserError('BAD_INPUT', `--rf must be an integer in 1..7, got ${rf}`, 'e.g. --rf 3')
  if (specs.length < rf) throw new UserError('BAD_INPUT', `--rf ${rf} needs at least ${rf} node${rf === 1 ? '' : 's'}; --nodes gives ${specs.length}`, 'add nodes with --nodes id=host:port,... or lower --rf')
  const nodes: ClusterNode[] = specs.map((s) => ({id: s.id, address: s.address, zone: s.zone, capacity: {}, state: 'active', createdAt: now}))
  const ring = new PlacementRing(nodes.map((n) => ({id: n.id, zone: n.zone})))
  const shards: Shard[] = evenRanges(count).map((range, id) => ({
    id,
    range,
    epoch: 1,
    replicas: ring.replicasFor(id, rf).map((node) => ({node, role: 'voter' as const})),
  }))
  return {nodes, shards}
}

/**
 * initCluster writes a new cluster: nodes and shards in batches of at most MAX_TXN_OPS,
 * each guarded by "meta absent", then meta and control last, so a cluster is visible only
 * once complete. Refuses (ALREADY_EXISTS) when the cluster exists, unless `force`, which
 * first deletes everything under the cluster's prefix — refused while an executor holds
 * its lock (LOCK_HELD) or a router is registered (PRECONDITION).
 */
export async function initCluster(ctx: ServiceContext, input: InitClusterInput): Promise<InitClusterResult> {
  const now = ctx.clock().toISOString()
  const {nodes, shards} = planInitialLayout(input, now)
  return writeNewCluster(ctx, {nodes, shards, rf: input.rf, force: input.force, now, extraMeta: {}})
}

/**
 * writeNewCluster stores a complete layout as a new cluster (see {@link initCluster} for the
 * guarantees: refused when it exists unless `force`, refused while an executor holds the
 * lock or a router is registered, visible only once complete). `extraMeta` adds engine fields to the meta record.
 */
export async function writeNewCluster(ctx: ServiceContext, layout: {nodes: ClusterNode[]; shards: Shard[]; rf: number; force: boolean; now: string; extraMeta: Partial<ClusterMeta>}): Promise<InitClusterResult> {
  const {nodes, shards, now} = layout
  const input = {rf: layout.rf, force: layout.force}
  const existing = await ctx.store.get(ctx.keys.meta)
  if (existing && !input.force) {
    throw new UserError('ALREADY_EXISTS', `cluster "${ctx.cluster}" already exists`, 'pass --force to delete it and start over, or choose another name with --cluster')
  }
  if (await ctx.store.get(ctx.keys.executorLock)) {
    throw new UserError('LOCK_HELD', `cluster "${ctx.cluster}" has a running executor`, 'wait for `shardctl apply` to finish or stop it before re-initialising')
  }
  // A running router keeps its lease across the clear below and would write routers/<id> back
  // into the new cluster with its next update, registered without having lowered the new,
  // empty write floor (docs/moves.md "The write floor"). Its entries are leased: any is live.
  const routers = (await ctx.store.list(ctx.keys.routersPrefix)).items
  if (routers.length > 0) {
    const ids = routers.map((kv) => kv.key.slice(ctx.keys.routersPrefix.length))
    throw new UserError('PRECONDITION', `cluster "${ctx.cluster}" has ${ids.length} running router(s): ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', ...' : ''}`, 'stop the routers first (their entries under routers/ go with their leases)')
  }
  // Clear whatever is under the prefix: an old cluster (with --force) or a half-written init.
  const cleared = await ctx.store.commit({
    compares: [existing ? {key: ctx.keys.meta, modRevision: existing.modRevision} : {key: ctx.keys.meta, createRevision: 0n}],
    deletePrefixes: [ctx.keys.prefix],
  })
  if (cleared === undefined) throw new UserError('CONFLICT', `cluster "${ctx.cluster}" changed while initialising`, 'retry the command')

  const metaAbsent = {key: ctx.keys.meta, createRevision: 0n}
  const puts = [...nodes.map((n) => ({key: ctx.keys.node(n.id), value: JSON.stringify(n)})), ...shards.map((s) => ({key: ctx.keys.shard(s.id), value: JSON.stringify(s)}))]
  const batches: Txn[] = []
  for (let i = 0; i < puts.length; i += MAX_TXN_OPS) batches.push({compares: [metaAbsent], puts: puts.slice(i, i + MAX_TXN_OPS)})
  await runLimited(batches, 8, async (txn) => {
    if ((await ctx.store.commit(txn)) === undefined) throw new UserError('CONFLICT', `cluster "${ctx.cluster}" was created concurrently by someone else`, 'check `shardctl cluster status`')
  })
  const meta: ClusterMeta = {version: 1, name: ctx.cluster, rf: input.rf, hash: HASH_NAME, createdAt: now, nextShardId: shards.length, uid: randomUUID(), ...layout.extraMeta}
  const done = await ctx.store.commit({
    compares: [metaAbsent],
    puts: [
      {key: ctx.keys.meta, value: JSON.stringify(meta)},
      {key: ctx.keys.control, value: JSON.stringify({paused: false, throttleBytesPerSec: null, updatedAt: now})},
      {key: ctx.keys.constraints, value: JSON.stringify({items: []})},
      // No router has run on a new cluster yet: its write floor starts empty (an absent one reads as w = 1; src/model/writeFloor.ts).
      {key: ctx.keys.writeFloor, value: JSON.stringify(newWriteFloor(now))},
      // The census counts every shard just written; deltas of later shard writes come after `cleared`.
      censusBasePut(ctx, shards, cleared),
    ],
  })
  if (done === undefined) throw new UserError('CONFLICT', `cluster "${ctx.cluster}" was created concurrently by someone else`, 'check `shardctl cluster status`')
  const replicaCount = new Map<string, number>()
  for (const s of shards) for (const r of s.replicas) replicaCount.set(r.node, (replicaCount.get(r.node) ?? 0) + 1)
  return {
    cluster: ctx.cluster,
    rf: input.rf,
    shards: shards.length,
    nodes: nodes.map((n) => ({id: n.id, address: n.address, zone: n.zone, replicas: replicaCount.get(n.id) ?? 0})),
    replaced: existing !== undefined,
  }
}

/** runLimited runs `fn` over `items` with at most `limit` in flight; rejects on the first failure. */
export async function runLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!
      await fn(item)
    }
  }
  await Promise.all(Array.from({length: Math.min(limit, items.length)}, worker))
}
