import {UserError} from '../errors/errors.js'
import {keyHash} from '../model/hash.js'
import {badShardIdText, SHARD_LIST_HINT} from '../model/ids.js'
import {KV_KEY_RULE, kvKeyProblem} from '../model/kvKey.js'
import {findRange} from '../model/range.js'
import {readReplicas, type Shard, writeReplicas} from '../model/shard.js'
import {describeShardIds, getMeta, getShard, listNodes, listShards} from './clusterRepo.js'
import {type ServiceContext} from './serviceContext.js'

/** listShardRecords returns every shard (optionally only those with a replica on `node`). */
export async function listShardRecords(ctx: ServiceContext, filter: {node?: string} = {}): Promise<Shard[]> {
  await getMeta(ctx)
  const {shards} = await listShards(ctx)
  const all = shards.map((s) => s.value)
  return filter.node === undefined ? all : all.filter((s) => s.replicas.some((r) => r.node === filter.node))
}

/**
 * showShard returns one shard with the addresses of its replicas. Throws UserError BAD_INPUT
 * for an id that is no shard id (negative, not whole), naming argument ID and the ids the
 * cluster has, and NOT_FOUND (from getShard, naming them too) for an id the cluster lacks.
 */
export async function showShard(ctx: ServiceContext, id: number): Promise<Shard & {addresses: Record<string, string>}> {
  if (!Number.isSafeInteger(id) || id < 0) {
    // The ids only decorate the bad-input error: when they cannot be read (etcd down), the
    // error is still the bad id (exit 2), not the reason they could not be read.
    const have = await describeShardIds(ctx).catch(() => undefined)
    throw new UserError('BAD_INPUT', `${badShardIdText('id', String(id))}${have === undefined ? '' : `; ${have}`}`, SHARD_LIST_HINT)
  }
  const shard = (await getShard(ctx, id)).value
  const nodes = await listNodes(ctx)
  const addresses = Object.fromEntries(nodes.filter((n) => shard.replicas.some((r) => r.node === n.value.id)).map((n) => [n.value.id, n.value.address]))
  return {...shard, addresses}
}

/** KeyLocation says where a key lives: its hash, shard, and which replicas serve reads and writes. */
export interface KeyLocation {
  key: string
  hash: number
  shard: number
  range: {lo: number; hi: number}
  epoch: number
  replicas: {node: string; role: string; address?: string}[]
  readFrom: string[]
  writeTo: string[]
}

/** locateKey maps a key to its shard and replicas, as the router would. */
export async function locateKey(ctx: ServiceContext, key: string): Promise<KeyLocation> {
  const problem = kvKeyProblem(key)
  if (problem) throw new UserError('BAD_INPUT', problem, KV_KEY_RULE)
  await getMeta(ctx)
  const [{shards}, nodes] = await Promise.all([listShards(ctx), listNodes(ctx)])
  const sorted = shards.map((s) => s.value).sort((a, b) => a.range.lo - b.range.lo)
  const hash = keyHash(key)
  const idx = findRange(sorted.map((s) => s.range), hash)
  if (idx < 0) throw new UserError('CORRUPT_VALUE', `no shard covers hash ${hash} of key "${key}": the shard map has a gap`, 'inspect `shardctl shard list`; repair the shard map')
  const shard = sorted[idx]!
  const addr = new Map(nodes.map((n) => [n.value.id, n.value.address]))
  return {
    key,
    hash,
    shard: shard.id,
    range: shard.range,
    epoch: shard.epoch,
    replicas: shard.replicas.map((r) => ({node: r.node, role: r.role, address: addr.get(r.node)})),
    readFrom: readReplicas(shard),
    writeTo: writeReplicas(shard),
  }
}
