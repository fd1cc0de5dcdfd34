import {type Redis} from 'ioredis'
import {UserError} from '../errors/errors.js'
import {type ClusterNode} from '../model/node.js'
import {type Shard} from '../model/shard.js'
import {myself, parseClusterNodes, shortNodeId} from './clusterNodes.js'
import {type OpCounts, opsRate, parseCommandStats} from './commandStats.js'
import {apportionLoad, estimateBytes, type ShardLoadEstimate, type ShardSample} from './loadApportion.js'
import {clusterCommand, connectRedisNode} from './redisConnection.js'
import {slotsOfRange} from './slotMap.js'

/** RedisLoadSource says which server signals a Redis snapshot's load figures came from. */
export interface RedisLoadSource {
  engine: 'redis'
  signals: {keys: 'countkeysinslot'; bytes: 'sampled-memory-usage'; ops: 'commandstats-by-key-share'}
  /** sampleWindowMs is how far apart the two INFO commandstats readings were. */
  sampleWindowMs: number
  /** bigKeys are sampled keys above the big-key limit, largest first (at most 20). */
  bigKeys: {key: string; node: string; bytes: number}[]
}

/** RedisSampleOptions bound the sampling cost. */
export interface RedisSampleOptions {
  /** keysPerShard is how many keys per shard get a MEMORY USAGE. */
  keysPerShard: number
  /** opsWindowMs separates the two INFO commandstats readings. */
  opsWindowMs: number
  /** bigKeyBytes: sampled keys above this are reported as big. */
  bigKeyBytes: number
  sleep: (ms: number) => Promise<void>
  now: () => number
}

/** DEFAULT_BIG_KEY_BYTES: 8 MiB; MIGRATE blocks both nodes while it serialises a key, so keys above this stall clients. */
export const DEFAULT_BIG_KEY_BYTES = 8 * 1024 * 1024

/**
 * sampleRedisLoad measures every shard's load on its master: exact key counts (CLUSTER
 * COUNTKEYSINSLOT for each slot), bytes from MEMORY USAGE of up to `keysPerShard` keys of the shard's fullest slots (stratified),
 * ops/s from two INFO commandstats readings `opsWindowMs` apart apportioned by key share.
 * It first checks that every master still serves exactly the slots etcd records for it:
 * throws UserError(PRECONDITION) naming the first slot that differs (the cluster changed
 * outside shardctl, or a migration is open), NODE_UNREACHABLE when a master does not answer.
 * Returns the estimates, which nodes answered, and the signal description.
 */
export async function sampleRedisLoad(nodes: readonly ClusterNode[], shards: readonly Shard[], opts: RedisSampleOptions): Promise<{load: ShardLoadEstimate[]; alive: Set<string>; source: RedisLoadSource}> {
  const conns = new Map<string, Redis>()
  try {
    for (const n of nodes) conns.set(n.id, await connectRedisNode(n.address))
    await checkOwnership(conns, shards)
    const before = await readOps(conns)
    const t0 = opts.now()
    const samples: ShardSample[] = []
    const big: RedisLoadSource['bigKeys'] = []
    for (const shard of shards) {
      const owner = shard.replicas[0]!.node
      samples.push(await sampleShard(conns.get(owner)!, shard, owner, opts, big))
    }
    const elapsed = opts.now() - t0
    if (elapsed < opts.opsWindowMs) await opts.sleep(opts.opsWindowMs - elapsed)
    const after = await readOps(conns)
    const window = Math.max(1, opts.now() - t0)
    const nodeOps = new Map<string, OpCounts>([...before].map(([id, b]) => [id, opsRate(b, after.get(id)!, window)]))
    big.sort((a, b) => b.bytes - a.bytes)
    return {
      load: apportionLoad(samples, nodeOps),
      alive: new Set(conns.keys()),
      source: {engine: 'redis', signals: {keys: 'countkeysinslot', bytes: 'sampled-memory-usage', ops: 'commandstats-by-key-share'}, sampleWindowMs: window, bigKeys: big.slice(0, 20)},
    }
  } finally {
    for (const c of conns.values()) c.disconnect()
  }
}

async function checkOwnership(conns: Map<string, Redis>, shards: readonly Shard[]): Promise<void> {
  const served = new Map<string, {slots: Set<number>; open: number[]}>()
  for (const [id, r] of conns) {
    const me = myself(parseClusterNodes(String(await clusterCommand(r, 'NODES'))))
    if (!me || shortNodeId(me.id) !== id) throw new UserError('PRECONDITION', `redis node recorded as "${id}" now has id ${me?.id ?? 'unknown'}`, 're-record the cluster: `shardctl cluster init --engine redis --seed HOST:PORT --force`')
    served.set(id, {slots: new Set(me.slots), open: [...me.migrating.keys(), ...me.importing.keys()]})
  }
  for (const [id, s] of served) {
    if (s.open.length > 0) throw new UserError('PRECONDITION', `redis node ${id} has slot ${s.open[0]} open mid-migration`, 'finish it with `shardctl apply --resume`, or close it with `shardctl redis fix --yes`')
  }
  for (const shard of shards) {
    const owner = shard.replicas[0]!.node
    const {first, end} = slotsOfRange(shard.range)
    for (let slot = first; slot < end; slot++) {
      if (!served.get(owner)?.slots.has(slot)) throw new UserError('PRECONDITION', `slot ${slot} of shard ${shard.id} is recorded on ${owner} but that master does not serve it`, 'the cluster changed outside shardctl: re-record it with `shardctl cluster init --engine redis --seed HOST:PORT --force`')
    }
  }
}

async function readOps(conns: Map<string, Redis>): Promise<Map<string, OpCounts>> {
  const out = new Map<string, OpCounts>()
  for (const [id, r] of conns) out.set(id, parseCommandStats(String(await r.info('commandstats'))))
  return out
}

async function sampleShard(r: Redis, shard: Shard, node: string, opts: RedisSampleOptions, big: RedisLoadSource['bigKeys']): Promise<ShardSample> {
  const {first, end} = slotsOfRange(shard.range)
  const p = r.pipeline()
  for (let slot = first; slot < end; slot++) p.call('CLUSTER', 'COUNTKEYSINSLOT', String(slot))
  const counts = ((await p.exec()) ?? []).map(([err, v]) => {
    if (err) throw err
    return Number(v)
  })
  const keys = counts.reduce((a, c) => a + c, 0)
  // Stratified sample: the fullest slots (up to 16), a few keys from each.
  const fullest = counts
    .map((c, i) => ({slot: first + i, keys: c}))
    .filter((x) => x.keys > 0)
    .sort((a, b) => b.keys - a.keys)
    .slice(0, Math.min(16, opts.keysPerShard))
  const per = Math.max(1, Math.ceil(opts.keysPerShard / Math.max(1, fullest.length)))
  const strata: {keys: number; sizes: number[]}[] = []
  for (const {slot, keys: inSlot} of fullest) {
    const names = (await clusterCommand(r, 'GETKEYSINSLOT', slot, per)) as string[]
    const mp = r.pipeline()
    for (const k of names) mp.call('MEMORY', 'USAGE', k)
    const sizes: number[] = []
    ;((await mp.exec()) ?? []).forEach(([err, v], i) => {
      if (err || v === null) return // expired or deleted since GETKEYSINSLOT
      const bytes = Number(v)
      sizes.push(bytes)
      if (bytes > opts.bigKeyBytes) big.push({key: names[i]!, node, bytes})
    })
    strata.push({keys: inSlot, sizes})
  }
  return {shard: shard.id, node, keys, bytes: estimateBytes(keys, strata)}
}
