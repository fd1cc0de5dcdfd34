import {decodeStored} from '../store/decodeStored.js'
import {LIST_PAGE_SIZE} from '../store/store.js'
import {UserError} from '../errors/errors.js'
import {type Shard, ShardSchema} from '../model/shard.js'
import {liveVoters} from './replicaTally.js'
import {type ServiceContext} from './serviceContext.js'

/**
 * Reading the shard map without holding it: at 100k shards the whole map as validated
 * records costs seconds of CPU and hundreds of MiB, while `cluster status` needs a few
 * counts and `shard list` prints one row at a time. Both fold the map page by page here.
 */

/** ShardState filters shards: `stable` (every replica a voter) or `moving` (a move in flight). */
export type ShardState = 'stable' | 'moving'

/** SHARD_STATES are the values `shard list --state` accepts. */
export const SHARD_STATES: readonly ShardState[] = ['stable', 'moving']

/** ReplicaCensus is what status views need from the shard map, counted without keeping it. */
export interface ReplicaCensus {
  shards: number
  /** moving counts shards with a replica that is not a voter (a move in flight). */
  moving: number
  /** underReplicated counts shards with fewer voters (on live nodes, when liveness was given) than the cluster's replication factor. */
  underReplicated: number
  /** replicasByNode counts every replica (any role) per node. */
  replicasByNode: Map<string, number>
  /** heldBy lists, for the node asked about, its shards and roles (empty unless asked). */
  heldBy: {id: number; role: string}[]
  revision: bigint
}

interface LightReplica {
  node: string
  role: string
}

/** lightReplicas reads a shard record's replicas with a structural check only (no schema run per record). */
export function lightReplicas(key: string, value: string): {id: number; replicas: LightReplica[]} {
  let parsed: unknown
  try {
    parsed = JSON.parse(value)
  } catch {
    throw new UserError('CORRUPT_VALUE', `${key} is not JSON`, 'inspect it with `shardctl shard show`; repair or restore the shard map')
  }
  const rec = parsed as {id?: unknown; replicas?: unknown}
  if (typeof rec.id !== 'number' || !Array.isArray(rec.replicas) || !rec.replicas.every((r: {node?: unknown; role?: unknown}) => typeof r?.node === 'string' && typeof r.role === 'string')) {
    throw new UserError('CORRUPT_VALUE', `${key} is not a shard record (id and replicas[].node/role expected)`, 'inspect it with `shardctl shard show`; repair or restore the shard map')
  }
  return {id: rec.id, replicas: rec.replicas as LightReplica[]}
}

/**
 * replicaCensus counts shards, moving and under-replicated shards and replicas per node in
 * one paged read at one revision, holding one page at a time. With `node`, it also lists
 * that node's shards and roles; with `alive`, only voters on those nodes count towards rf
 * (the rule of {@link liveVoters}, which `top` and the autopilot use).
 */
export async function replicaCensus(ctx: ServiceContext, rf: number, node?: string, alive?: ReadonlySet<string>): Promise<ReplicaCensus> {
  const census: ReplicaCensus = {shards: 0, moving: 0, underReplicated: 0, replicasByNode: new Map(), heldBy: [], revision: 0n}
  for await (const page of ctx.store.scan(ctx.keys.shardsPrefix)) {
    census.revision = page.revision
    for (const kv of page.items) {
      const {id, replicas} = lightReplicas(kv.key, kv.value)
      census.shards++
      let voters = 0
      for (const r of replicas) {
        census.replicasByNode.set(r.node, (census.replicasByNode.get(r.node) ?? 0) + 1)
        if (r.role === 'voter') voters++
        if (r.node === node) census.heldBy.push({id, role: r.role})
      }
      if (voters < replicas.length) census.moving++
      if (liveVoters(replicas, alive) < rf) census.underReplicated++
    }
  }
  return census
}

/** ShardFilter narrows a shard scan: a node holding a replica, a state, a count. */
export interface ShardFilter {
  node?: string
  state?: ShardState
  limit?: number
  /** pageSize overrides the store page size (smaller pages when a filtered limit is expected to be met early). */
  pageSize?: number
}

/** shardState tells whether a shard is stable or has a move in flight. */
export function shardState(shard: Shard): ShardState {
  return shard.replicas.every((r) => r.role === 'voter') ? 'stable' : 'moving'
}

/**
 * scanShards yields validated shards in id order, filtered while reading and stopping at
 * `limit`, one etcd page in memory at a time (CORRUPT_VALUE names the first bad record).
 */
export async function* scanShards(ctx: ServiceContext, filter: ShardFilter = {}): AsyncGenerator<Shard> {
  if (filter.limit !== undefined && filter.limit <= 0) return
  let emitted = 0
  // Unfiltered with a limit: read no more than the limit (a first page of 10,000 costs seconds at 100k shards).
  const unfiltered = filter.node === undefined && filter.state === undefined
  const pageSize = filter.pageSize ?? (unfiltered && filter.limit !== undefined ? Math.min(filter.limit, LIST_PAGE_SIZE) : undefined)
  for await (const page of ctx.store.scan(ctx.keys.shardsPrefix, {pageSize})) {
    for (const kv of page.items) {
      const shard = decodeStored(kv, ShardSchema).value
      if (filter.node !== undefined && !shard.replicas.some((r) => r.node === filter.node)) continue
      if (filter.state !== undefined && shardState(shard) !== filter.state) continue
      yield shard
      if (++emitted === filter.limit) return
    }
  }
}
