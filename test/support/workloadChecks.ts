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

/** expectDigestsAgree asserts that every readable replica of each shard reports the same digest buckets. */
export async function expectDigestsAgree(dp: DataPlane, shards: readonly Shard[]): Promise<void> {
  for (const s of shards) {
    const digests = await Promise.all(readReplicas(s).map((n) => dp.client(n).digest(s.id, s.epoch)))
    for (const d of digests) expect(d.buckets).toEqual(digests[0]?.buckets)
  }
}
