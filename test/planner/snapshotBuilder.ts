import {evenRanges} from '../../src/model/range.js'
import {type ClusterSnapshot, ClusterSnapshotSchema, shardMapFingerprint} from '../../src/model/snapshot.js'

/** NodeSpec describes one node of a test cluster; omitted fields are active, alive, zone "z0", uniform capacity. */
export interface NodeSpec {
  id: string
  zone?: string
  state?: 'active' | 'cordoned' | 'draining'
  alive?: boolean
  capacity?: {reads?: number; writes?: number; bytes?: number}
}

/** ShardSpec: the nodes holding the shard and the load each replica carries. */
export interface ShardSpec {
  replicas: string[]
  reads?: number
  writes?: number
  bytes?: number
}

/**
 * snapshotOf builds a validated snapshot: shards numbered from 0 over even ranges, every
 * replica carrying its shard's load (keys = bytes / 100).
 */
export function snapshotOf(spec: {rf?: number; nodes: NodeSpec[]; shards: ShardSpec[]; constraints?: ClusterSnapshot['constraints']}): ClusterSnapshot {
  const ranges = evenRanges(Math.max(1, spec.shards.length))
  const shards = spec.shards.map((s, id) => ({id, range: ranges[id]!, epoch: 1, replicas: s.replicas.map((node) => ({node, role: 'voter' as const}))}))
  const createdAt = '2025-01-01T00:00:00.000Z'
  return ClusterSnapshotSchema.parse({
    version: 1,
    cluster: {version: 1, name: 'test', rf: spec.rf ?? spec.shards[0]?.replicas.length ?? 1, hash: 'murmur3-x86_32', createdAt, nextShardId: spec.shards.length},
    revision: '7',
    fingerprint: shardMapFingerprint(shards),
    nodes: spec.nodes.map((n, i) => ({id: n.id, address: `127.0.0.1:${7000 + i}`, zone: n.zone ?? 'z0', capacity: n.capacity ?? {}, state: n.state ?? 'active', createdAt, alive: n.alive ?? true})),
    shards,
    load: spec.shards.flatMap((s, id) => s.replicas.map((node) => ({node, shard: id, reads: s.reads ?? 0, writes: s.writes ?? 0, bytes: s.bytes ?? 0, keys: Math.round((s.bytes ?? 0) / 100)}))),
    constraints: spec.constraints ?? [],
  })
}

/** nodeTotals sums each node's replica loads in a snapshot: the figures a plan's `after` must match once applied. */
export function nodeTotals(snapshot: ClusterSnapshot): Map<string, {reads: number; writes: number; bytes: number; keys: number; replicas: number}> {
  const out = new Map(snapshot.nodes.map((n) => [n.id, {reads: 0, writes: 0, bytes: 0, keys: 0, replicas: 0}]))
  for (const l of snapshot.load) {
    const t = out.get(l.node)!
    t.reads += l.reads
    t.writes += l.writes
    t.bytes += l.bytes
    t.keys += l.keys
  }
  for (const s of snapshot.shards) for (const r of s.replicas) out.get(r.node)!.replicas++
  return out
}
