import {evenRanges} from '../src/model/range.js'
import {type ClusterSnapshot, shardMapFingerprint} from '../src/model/snapshot.js'
import {PlacementRing} from '../src/placement/ring.js'
import {seededRandom} from './seededRandom.js'

/** NewNodeSpec sizes the "add one node" cluster: `newZone` is the zone of the added node (z1 shares a zone with n1 and n4; z4 is a zone of its own). */
export interface NewNodeSpec {
  shards: number
  seed: number
  newZone: 'z1' | 'z4'
}

const MiB = 2 ** 20

/**
 * newNodeCluster builds the most common day of an operator as a reproducible snapshot: six
 * equal nodes n1..n6 in three zones (z1: n1, n4; z2: n2, n5; z3: n3, n6) holding `shards`
 * shards at rf 3 placed by the consistent-hash ring (as `cluster init` does), with mildly
 * uneven load (each shard's reads, writes and size uniform in 0.7..1.3 of their mean, sizes
 * around 64 MiB), plus one empty node n7 just added in zone `newZone`. No capacities are
 * stated, so every node's fair share is one seventh of the load.
 */
export function newNodeCluster(spec: NewNodeSpec): ClusterSnapshot {
  const random = seededRandom(spec.seed)
  const old = [1, 2, 3, 4, 5, 6].map((i) => ({id: `n${i}`, zone: `z${((i - 1) % 3) + 1}`}))
  const ring = new PlacementRing(old)
  const ranges = evenRanges(spec.shards)
  const shards: ClusterSnapshot['shards'] = []
  const load: ClusterSnapshot['load'] = []
  const jitter = () => 0.7 + 0.6 * random()
  for (let s = 0; s < spec.shards; s++) {
    const replicas = ring.replicaOrdinals(s, 3).map((k) => ring.ordinalIds[k]!)
    shards.push({id: s, range: ranges[s]!, epoch: 1, replicas: replicas.map((node) => ({node, role: 'voter' as const}))})
    const reads = 100 * jitter()
    const writes = 20 * jitter()
    const bytes = Math.round(64 * MiB * jitter())
    for (const node of replicas) load.push({node, shard: s, reads: reads / 3, writes, bytes, keys: Math.round(bytes / 1024)})
  }
  const createdAt = '2025-01-01T00:00:00.000Z'
  const nodes = [...old, {id: 'n7', zone: spec.newZone}]
  return {
    version: 1,
    cluster: {version: 1, name: 'bench', rf: 3, hash: 'murmur3-x86_32', createdAt, nextShardId: spec.shards},
    revision: '1',
    fingerprint: shardMapFingerprint(shards),
    nodes: nodes.map((n, i) => ({id: n.id, address: `10.0.0.${i + 1}:7000`, zone: n.zone, capacity: {}, state: 'active' as const, createdAt, alive: true})),
    shards,
    load,
    constraints: [],
  }
}
