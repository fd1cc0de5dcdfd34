import {expect} from 'vitest'
import {type Shard, readReplicas} from '../../src/model/shard.js'
import {type DataPlane, kv, waitFor} from '../integration/router/dataPlane.js'
import {dataPlaneFetch} from './dataPlaneFetch.js'
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
    const records = await dp.client(n).bucketRecords(s.id, s.epoch, differing.slice(0, 8)).then((l) => l.records).catch((err: Error) => err.message)
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
 * routerMetric sums the samples of metric `name` on the router at `address` whose labels
 * contain every `label="value"` pair of `labels` (0 when there is none).
 */
export async function routerMetric(address: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const res = await dataPlaneFetch(address, '/metrics', {signal: AbortSignal.timeout(10_000)})
  const text = await res.text()
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
  let sum = 0
  for (const line of text.split('\n')) {
    if (line !== name && !line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (want.every((w) => line.includes(w))) sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return sum
}

/** HintFigures are a router's hinted-handoff and failed-apply counters. */
export interface HintFigures {
  queued: number
  delivered: number
  dropped: number
  expired: number
  obsolete: number
  rejected: number
  /** applyFailures: failed replica applies of client writes, by reason (TIMEOUT, or the node error code). */
  applyFailures: Record<string, number>
}

/**
 * waitForHintsDrained waits (up to `timeoutMs`, past the 30 s a hint may live) until the
 * router at `address` has no hint pending or in delivery, and returns its hint figures.
 */
export async function waitForHintsDrained(address: string, timeoutMs = 40_000): Promise<HintFigures> {
  await waitFor(async () => ((await routerMetric(address, 'shardctl_router_hints_pending')) === 0 ? true : undefined), 'the router\'s hint queue to drain', timeoutMs)
  const ev = (event: string) => routerMetric(address, 'shardctl_router_hints_total', {event})
  const text = await (await dataPlaneFetch(address, '/metrics', {signal: AbortSignal.timeout(10_000)})).text()
  const applyFailures: Record<string, number> = {}
  for (const m of text.matchAll(/^shardctl_router_replica_apply_failures_total\{([^}]*)\} (\S+)$/gm)) {
    const reason = /reason="([^"]*)"/.exec(m[1] ?? '')?.[1] ?? '?'
    const move = /during_move="true"/.test(m[1] ?? '') ? ' during a move' : ''
    applyFailures[reason + move] = (applyFailures[reason + move] ?? 0) + Number(m[2])
  }
  return {queued: await ev('queued'), delivered: await ev('delivered'), dropped: await ev('dropped'), expired: await ev('expired'), obsolete: await ev('obsolete'), rejected: await ev('rejected'), applyFailures}
}
