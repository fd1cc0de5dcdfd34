import {type Redis} from 'ioredis'
import {UserError} from '../errors/errors.js'
import {type ClusterNode} from '../model/node.js'
import {type Shard} from '../model/shard.js'
import {myself, shortNodeId} from './clusterNodes.js'
import {type OpCounts, opsRate, parseCommandStats} from './commandStats.js'
import {apportionLoad, estimateBytes, type ShardLoadEstimate, type ShardSample} from './loadApportion.js'
import {isLfuPolicy, lfuAccessWeight} from './lfuCounter.js'
import {clusterCommand, connectRedisNode, readClusterNodes} from './redisConnection.js'
import {slotsOfRange} from './slotMap.js'
import {parseSlotStats, slotCpuDelta, type SlotCounters} from './slotStats.js'

/**
 * RedisOpsSignal is how one master's measured ops/s were split over its shards: by each
 * slot's CPU time (`CLUSTER SLOT-STATS`, Valkey 8+ / Redis 8.2+ with
 * cluster-slot-stats-enabled), by sampled LFU access counters (`OBJECT FREQ`, when the
 * maxmemory-policy is an LFU one), or by key share (every version; blind to hot keys).
 */
export type RedisOpsSignal = 'slot-stats-cpu' | 'lfu-object-freq' | 'key-share'

/** RedisLoadSource says which server signals a Redis snapshot's load figures came from. */
export interface RedisLoadSource {
  engine: 'redis'
  /** signals.ops is `commandstats-by-<signal>` when every master used the same signal, else `commandstats-by-mixed` (see opsByNode). */
  signals: {keys: 'countkeysinslot'; bytes: 'sampled-memory-usage'; ops: string}
  /** opsByNode names the signal each master's ops were split by. */
  opsByNode: Record<string, RedisOpsSignal>
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

/** SAMPLED_SLOTS is how many of a shard's fullest slots the sample draws its keys from (more slots: less weight on any one). */
const SAMPLED_SLOTS = 64

/** NodeSignal is what a master offers for splitting its ops (see probeOpsSignal). */
type NodeSignal = {kind: 'slot-stats-cpu'} | {kind: 'lfu-object-freq'; logFactor: number} | {kind: 'key-share'}

/**
 * sampleRedisLoad measures every shard's load on its master: exact key counts (CLUSTER
 * COUNTKEYSINSLOT for each slot), bytes from MEMORY USAGE of up to `keysPerShard` keys of the shard's fullest slots (stratified),
 * ops/s from two INFO commandstats readings `opsWindowMs` apart, split over the master's
 * shards by the best signal it offers (see RedisOpsSignal; probed per master, named in `opsByNode`).
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
    const signals = new Map<string, NodeSignal>()
    for (const [id, r] of conns) signals.set(id, await probeOpsSignal(r))
    const before = await readOps(conns)
    const slotStatsBefore = await readSlotStats(conns, signals)
    const t0 = opts.now()
    const samples: ShardSample[] = []
    const big: RedisLoadSource['bigKeys'] = []
    for (const shard of shards) {
      const owner = shardOwner(shard)
      const conn = conns.get(owner)
      if (!conn) throw new UserError('PRECONDITION', `shard ${shard.id} is recorded on "${owner}", which is not a recorded master`, 're-record the cluster: `shardctl cluster init --engine redis --seed HOST:PORT --force`')
      const signal = signals.get(owner) ?? {kind: 'key-share'}
      samples.push(await sampleShard(conn, shard, owner, opts, big, signal.kind === 'lfu-object-freq' ? signal.logFactor : null))
    }
    const elapsed = opts.now() - t0
    if (elapsed < opts.opsWindowMs) await opts.sleep(opts.opsWindowMs - elapsed)
    const after = await readOps(conns)
    const slotStatsAfter = await readSlotStats(conns, signals)
    const window = Math.max(1, opts.now() - t0)
    const nodeOps = new Map<string, OpCounts>([...before].map(([id, b]) => [id, opsRate(b, after.get(id) ?? b, window)]))
    const opsByNode: Record<string, RedisOpsSignal> = {}
    for (const [id, sig] of signals) opsByNode[id] = sig.kind
    for (const [id, afterStats] of slotStatsAfter) {
      const cpu = slotCpuDelta(slotStatsBefore.get(id) ?? new Map(), afterStats)
      if (cpu === null) {
        opsByNode[id] = 'key-share' // cpu-usec switched off between probe and reading
        continue
      }
      for (const sample of samples) {
        if (sample.node !== id) continue
        const shard = shards.find((x) => x.id === sample.shard)
        if (!shard) continue
        const {first, end} = slotsOfRange(shard.range)
        let usec = 0
        for (let slot = first; slot < end; slot++) usec += cpu.get(slot) ?? 0
        sample.opsWeight = usec
      }
    }
    for (const sample of samples) if (opsByNode[sample.node] === 'key-share') sample.opsWeight = null
    big.sort((a, b) => b.bytes - a.bytes)
    const used = new Set(Object.values(opsByNode))
    return {
      load: apportionLoad(samples, nodeOps),
      alive: new Set(conns.keys()),
      source: {engine: 'redis', signals: {keys: 'countkeysinslot', bytes: 'sampled-memory-usage', ops: used.size === 1 ? `commandstats-by-${[...used][0]}` : 'commandstats-by-mixed'}, opsByNode, sampleWindowMs: window, bigKeys: big.slice(0, 20)},
    }
  } finally {
    for (const c of conns.values()) c.disconnect()
  }
}

async function checkOwnership(conns: Map<string, Redis>, shards: readonly Shard[]): Promise<void> {
  const served = new Map<string, {slots: Set<number>; open: number[]}>()
  for (const [id, r] of conns) {
    const me = myself(await readClusterNodes(r))
    if (!me || shortNodeId(me.id) !== id) throw new UserError('PRECONDITION', `redis node recorded as "${id}" now has id ${me?.id ?? 'unknown'}`, 're-record the cluster: `shardctl cluster init --engine redis --seed HOST:PORT --force`')
    served.set(id, {slots: new Set(me.slots), open: [...me.migrating.keys(), ...me.importing.keys()]})
  }
  for (const [id, s] of served) {
    if (s.open.length > 0) throw new UserError('PRECONDITION', `redis node ${id} has slot ${s.open[0]} open mid-migration`, 'finish it with `shardctl apply --resume`, or see how `shardctl redis fix` (a dry run) would close it, then run it with --yes')
  }
  for (const shard of shards) {
    const owner = shardOwner(shard)
    const {first, end} = slotsOfRange(shard.range)
    for (let slot = first; slot < end; slot++) {
      if (!served.get(owner)?.slots.has(slot)) throw new UserError('PRECONDITION', `slot ${slot} of shard ${shard.id} is recorded on ${owner} but that master does not serve it`, 'the cluster changed outside shardctl: re-record it with `shardctl cluster init --engine redis --seed HOST:PORT --force`')
    }
  }
}

/**
 * probeOpsSignal asks one master what it can tell about per-slot load: `CLUSTER SLOT-STATS`
 * if the server knows the command (COMMAND INFO) and returns cpu-usec; else LFU counters if
 * its maxmemory-policy is an LFU one; else nothing (key share). A CONFIG GET refused by the
 * server (renamed or ACL-denied) counts as no LFU.
 */
async function probeOpsSignal(r: Redis): Promise<NodeSignal> {
  const info = (await r.call('COMMAND', 'INFO', 'CLUSTER|SLOT-STATS')) as unknown[]
  if (Array.isArray(info) && info[0]) {
    const one = parseSlotStats(await clusterCommand(r, 'SLOT-STATS', 'ORDERBY', 'key-count', 'LIMIT', 1))
    if ([...one.values()].some((c) => c.cpuUsec !== undefined)) return {kind: 'slot-stats-cpu'}
  }
  try {
    const policy = (await r.call('CONFIG', 'GET', 'maxmemory-policy')) as string[]
    if (isLfuPolicy(String(policy[1] ?? ''))) {
      const factor = (await r.call('CONFIG', 'GET', 'lfu-log-factor')) as string[]
      return {kind: 'lfu-object-freq', logFactor: Number(factor[1] ?? 10)}
    }
  } catch {
    // CONFIG refused: no way to know the policy, so no LFU.
  }
  return {kind: 'key-share'}
}

/** readSlotStats reads `CLUSTER SLOT-STATS SLOTSRANGE 0 16383` (the master's own slots) on every master whose signal is slot-stats-cpu. */
async function readSlotStats(conns: Map<string, Redis>, signals: ReadonlyMap<string, NodeSignal>): Promise<Map<string, Map<number, SlotCounters>>> {
  const out = new Map<string, Map<number, SlotCounters>>()
  for (const [id, r] of conns) {
    if (signals.get(id)?.kind !== 'slot-stats-cpu') continue
    out.set(id, parseSlotStats(await clusterCommand(r, 'SLOT-STATS', 'SLOTSRANGE', 0, 16383)))
  }
  return out
}

function shardOwner(shard: Shard): string {
  const owner = shard.replicas[0]?.node
  if (!owner) throw new UserError('PRECONDITION', `shard ${shard.id} has no replica recorded`, 're-record the cluster: `shardctl cluster init --engine redis --seed HOST:PORT --force`')
  return owner
}

async function readOps(conns: Map<string, Redis>): Promise<Map<string, OpCounts>> {
  const out = new Map<string, OpCounts>()
  for (const [id, r] of conns) out.set(id, parseCommandStats(String(await r.info('commandstats'))))
  return out
}

/**
 * sampleShard counts the shard's keys and samples up to `keysPerShard` keys of its fullest
 * slots for MEMORY USAGE and, when `lfuLogFactor` is set, OBJECT FREQ (neither touches the
 * key's LFU/LRU state, so sampling does not skew the next sample).
 */
async function sampleShard(r: Redis, shard: Shard, node: string, opts: RedisSampleOptions, big: RedisLoadSource['bigKeys'], lfuLogFactor: number | null): Promise<ShardSample> {
  const {first, end} = slotsOfRange(shard.range)
  const p = r.pipeline()
  for (let slot = first; slot < end; slot++) p.call('CLUSTER', 'COUNTKEYSINSLOT', String(slot))
  const counts = ((await p.exec()) ?? []).map(([err, v]) => {
    if (err) throw err
    return Number(v)
  })
  const keys = counts.reduce((a, c) => a + c, 0)
  // Stratified sample: the fullest slots (up to SAMPLED_SLOTS), a few keys from each.
  const fullest = counts
    .map((c, i) => ({slot: first + i, keys: c}))
    .filter((x) => x.keys > 0)
    .sort((a, b) => b.keys - a.keys)
    .slice(0, Math.min(SAMPLED_SLOTS, opts.keysPerShard))
  const per = Math.max(1, Math.ceil(opts.keysPerShard / Math.max(1, fullest.length)))
  const strata: {keys: number; sizes: number[]}[] = []
  const accessStrata: {keys: number; sizes: number[]}[] = []
  for (const {slot, keys: inSlot} of fullest) {
    const names = (await clusterCommand(r, 'GETKEYSINSLOT', slot, per)) as string[]
    const mp = r.pipeline()
    for (const k of names) mp.call('MEMORY', 'USAGE', k)
    const sizes: number[] = []
    ;((await mp.exec()) ?? []).forEach(([err, v], i) => {
      if (err || v === null) return // expired or deleted since GETKEYSINSLOT
      const bytes = Number(v)
      sizes.push(bytes)
      if (bytes > opts.bigKeyBytes) big.push({key: names[i] ?? '?', node, bytes})
    })
    strata.push({keys: inSlot, sizes})
    if (lfuLogFactor !== null) accessStrata.push({keys: inSlot, sizes: await lfuWeights(r, names, lfuLogFactor)})
  }
  const opsWeight = lfuLogFactor === null ? null : keys === 0 ? 0 : estimateBytes(keys, accessStrata)
  return {shard: shard.id, node, keys, bytes: estimateBytes(keys, strata), opsWeight}
}

/** lfuWeights is the estimated access count (lfuAccessWeight of OBJECT FREQ) of each key still there. */
async function lfuWeights(r: Redis, keys: readonly string[], logFactor: number): Promise<number[]> {
  const p = r.pipeline()
  for (const k of keys) p.call('OBJECT', 'FREQ', k)
  const out: number[] = []
  for (const [err, v] of (await p.exec()) ?? []) {
    if (err || v === null) continue // gone since GETKEYSINSLOT
    out.push(lfuAccessWeight(Math.min(255, Math.max(0, Number(v))), logFactor))
  }
  return out
}
