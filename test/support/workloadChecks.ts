import {expect} from 'vitest'
import {type Shard, readReplicas} from '../../src/model/shard.js'
import {type DataPlane, kv} from '../integration/router/dataPlane.js'
import {type WorkloadReport} from './workload.js'

/**
 * expectWorkloadIntact asserts what every end-to-end move test promises its clients: no
 * request failed, no read was stale, more than `minAcked` writes were acknowledged, and each
 * key's last acknowledged value reads back through `router`.
 */
export async function expectWorkloadIntact(router: string, report: WorkloadReport, minAcked = 50): Promise<void> {
  expect(report.failures, JSON.stringify(report.failures.slice(0, 5))).toEqual([])
  expect(report.staleReads).toBe(0)
  expect(report.writesAcked).toBeGreaterThan(minAcked)
  for (const [key, value] of report.lastAcked) {
    const r = await kv(router, 'GET', key)
    expect(r.status, key).toBe(200)
    expect(r.body.toString(), key).toBe(value)
  }
}

/**
 * expectDigestsAgree asserts that every readable replica of each shard reports the same digest
 * buckets. On a mismatch the failure names the shard, its replicas and the differing buckets
 * with each replica's records in them (key, version, tombstone or value length), so a run that
 * fails tells a replica missing a write from one holding a record the others dropped.
 */
export async function expectDigestsAgree(dp: DataPlane, shards: readonly Shard[]): Promise<void> {
  for (const s of shards) {
    const lag = await replicaLag(dp, s)
    if (lag) expect.fail(lag)
  }
}

/**
 * replicaLag compares the digests of `s`'s readable replicas: undefined when they agree,
 * otherwise a description naming the shard, its replicas and the differing buckets with
 * each replica's records in them (key, version, tombstone or value length).
 */
export async function replicaLag(dp: DataPlane, s: Shard): Promise<string | undefined> {
  const nodes = readReplicas(s)
  const differing = await differingBuckets(dp, s)
  if (differing.length === 0) return undefined
  const listings = await Promise.all(nodes.map(async (n) => {
    const records = await dp.client(n).bucketRecords(s.id, s.epoch, differing.slice(0, 8)).catch((err: Error) => err.message)
    const text = typeof records === 'string' ? records : records.map((r) => `${r.key.toString()}@${r.version}${r.value === null ? ' (tombstone)' : ` (${r.value.length} B)`}`).join(', ')
    return `${n}: ${text}`
  }))
  return `shard ${s.id} (epoch ${s.epoch}, replicas ${nodes.join(', ')}): digest buckets ${differing.join(', ')} differ; records there: ${listings.join(' | ')}`
}

/** differingBuckets lists the digest buckets in which `s`'s readable replicas disagree. */
async function differingBuckets(dp: DataPlane, s: Shard): Promise<number[]> {
  const digests = await Promise.all(readReplicas(s).map((n) => dp.client(n).digest(s.id, s.epoch)))
  const first = digests[0]?.buckets ?? []
  return first.map((_, i) => i).filter((i) => digests.some((d) => d.buckets[i] !== first[i]))
}

/**
 * newestOnAQuorum tells whether, in each differing bucket of `s`, every key's newest version
 * is held by at least `quorum` replicas: the replicas that differ only lag (they miss writes
 * acknowledged without them), none holds a newer record the others lack.
 */
export async function newestOnAQuorum(dp: DataPlane, s: Shard, quorum: number): Promise<boolean> {
  const differing = await differingBuckets(dp, s)
  if (differing.length === 0) return true
  const holders = new Map<string, Map<string, number>>()
  for (const n of readReplicas(s)) {
    for (const r of await dp.client(n).bucketRecords(s.id, s.epoch, differing)) {
      const byVersion = holders.get(r.key.toString('hex')) ?? new Map<string, number>()
      byVersion.set(r.version, (byVersion.get(r.version) ?? 0) + 1)
      holders.set(r.key.toString('hex'), byVersion)
    }
  }
  return [...holders.values()].every((byVersion) => (byVersion.get([...byVersion.keys()].sort().at(-1) ?? '') ?? 0) >= quorum)
}
