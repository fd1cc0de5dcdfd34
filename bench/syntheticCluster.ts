import {evenRanges} from '../src/model/range.js'
import {type ClusterSnapshot, shardMapFingerprint} from '../src/model/snapshot.js'
import {PlacementRing} from '../src/placement/ring.js'
import {seededRandom, shuffled, standardNormal} from './seededRandom.js'

/** SyntheticSpec sizes a synthetic cluster; `zipf` is the exponent of the read and write skew. */
export interface SyntheticSpec {
  nodes: number
  shards: number
  rf: number
  zipf: number
  seed: number
}

const MiB = 2 ** 20

/**
 * syntheticCluster builds a reproducible snapshot the way a real cluster drifts:
 * `nodes - 1` nodes in 3 zones placed by the consistent-hash ring (as `cluster init`
 * does), then one empty node added and one node set draining (both in zone z0 and of the
 * same size; with 3k + 1 nodes every zone keeps k active nodes of the same sizes, so the
 * target stays feasible under the zone spread). Capacities are
 * mixed (every other node per zone is twice as big) and stated for all three resources at
 * about 55% average use. Reads and writes follow independent Zipf(`zipf`) rankings over
 * shards; sizes are log-normal (median 64 MiB) and independent of heat, so hot-and-small and
 * cold-and-big shards both exist.
 */
export function syntheticCluster(spec: SyntheticSpec): ClusterSnapshot {
  // With nodes = 3k + 1 the added and the draining node share zone z0 and every zone keeps k active nodes.
  if (spec.nodes % 3 !== 1) throw new RangeError(`synthetic clusters need 3k + 1 nodes so zones stay equal, got ${spec.nodes}`)
  const random = seededRandom(spec.seed)
  const ids = Array.from({length: spec.nodes}, (_, i) => `n${String(i).padStart(4, '0')}`)
  const zoneOf = (i: number) => `z${i % 3}`
  const scale = (i: number) => (Math.floor(i / 3) % 2 === 0 ? 1 : 2)
  const added = spec.nodes - 1
  let draining = 0
  while (zoneOf(draining) !== zoneOf(added) || scale(draining) !== scale(added)) draining++
  const initial = ids.map((id, i) => ({id, zone: zoneOf(i)})).filter((_, i) => i !== added)
  const ring = new PlacementRing(initial)

  const readRank = shuffled(spec.shards, random)
  const writeRank = shuffled(spec.shards, random)
  const totalReads = 2000 * spec.nodes
  const totalWrites = 500 * spec.nodes
  let harmonic = 0
  for (let k = 1; k <= spec.shards; k++) harmonic += k ** -spec.zipf
  const ranges = evenRanges(spec.shards)
  const shards: ClusterSnapshot['shards'] = []
  const load: ClusterSnapshot['load'] = []
  const totals = {reads: 0, writes: 0, bytes: 0}
  for (let s = 0; s < spec.shards; s++) {
    const replicas = ring.replicaOrdinals(s, spec.rf).map((k) => ring.ordinalIds[k]!)
    shards.push({id: s, range: ranges[s]!, epoch: 1, replicas: replicas.map((node) => ({node, role: 'voter' as const}))})
    const reads = (totalReads * (readRank[s]! + 1) ** -spec.zipf) / harmonic
    const writes = (totalWrites * (writeRank[s]! + 1) ** -spec.zipf) / harmonic
    const bytes = Math.round(64 * MiB * Math.exp(standardNormal(random)))
    for (const node of replicas) {
      const l = {node, shard: s, reads: reads / spec.rf, writes, bytes, keys: Math.round(bytes / 1024)}
      load.push(l)
      totals.reads += l.reads
      totals.writes += l.writes
      totals.bytes += l.bytes
    }
  }
  const scaleSum = ids.reduce((a, _, i) => a + (i === draining ? 0 : scale(i)), 0)
  const capacity = (i: number) => ({
    reads: Math.ceil((totals.reads / scaleSum) * scale(i) * 1.8),
    writes: Math.ceil((totals.writes / scaleSum) * scale(i) * 1.8),
    bytes: Math.ceil((totals.bytes / scaleSum) * scale(i) * 1.8),
  })
  const createdAt = '2025-01-01T00:00:00.000Z'
  return {
    version: 1,
    cluster: {version: 1, name: 'bench', rf: spec.rf, hash: 'murmur3-x86_32', createdAt, nextShardId: spec.shards},
    revision: '1',
    fingerprint: shardMapFingerprint(shards),
    nodes: ids.map((id, i) => ({
      id,
      address: `10.0.${Math.floor(i / 250)}.${i % 250}:7000`,
      zone: zoneOf(i),
      capacity: capacity(i),
      state: i === draining ? ('draining' as const) : ('active' as const),
      createdAt,
      alive: true,
    })),
    shards,
    load,
    constraints: [],
  }
}
