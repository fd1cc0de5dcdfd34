import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {getStatsSummary} from '../../../src/cluster/clusterRepo.js'
import {keyHash} from '../../../src/model/hash.js'
import {formatHlc, HybridClock} from '../../../src/model/hlc.js'
import {type Shard} from '../../../src/model/shard.js'
import {type NodeRecord} from '../../../src/node/protocol.js'
import {DataPlane, waitFor} from '../router/dataPlane.js'
import {runCli} from '../../support/runCli.js'

/**
 * A node's published stats follow the replicas the map gives it, not only its
 * `--stats-interval` timer. Real etcd, three `node serve` processes, the shardctl binary for
 * `node drain` and `node show`. The nodes publish on a 10-minute timer, so no tick falls inside
 * the test: what must bring n3's figures to nothing is the drain taking its replicas away.
 * Before, they named the replicas it had until the next tick: on the default 5 s timer,
 * `node show n3` right after the drain said "104 KiB in 52 keys over 2 replicas".
 */

let dp: DataPlane
const conn = () => ['--endpoints', dp.endpoint, '--cluster', dp.cluster]
const cli = (args: string[]) => runCli([...args, ...conn()], {cwd: process.cwd(), timeoutMs: 120_000})

/** keysIn finds `n` keys (bounded search) hashing into `shard`'s range. */
function keysIn(shard: Shard, prefix: string, n: number): string[] {
  const out: string[] = []
  for (let i = 0; out.length < n && i < 1_000_000; i++) {
    const h = keyHash(`${prefix}-${i}`)
    if (h >= shard.range.lo && h < shard.range.hi) out.push(`${prefix}-${i}`)
  }
  return out
}

beforeAll(async () => {
  dp = new DataPlane(inject('etcdEndpoint'), 'drainstats')
  dp.statsInterval = '10m'
  await dp.init(3, 3, 2)
  const clock = new HybridClock('fill', Date.now)
  for (const shard of await dp.shards()) {
    const batch: NodeRecord[] = keysIn(shard, `s${shard.id}`, 26).map((k) => ({key: Buffer.from(k), version: formatHlc(clock.now()), value: Buffer.alloc(2048, 'v')}))
    for (const r of shard.replicas) await dp.client(r.node).apply(shard.id, shard.epoch, batch, 'write')
  }
}, 120_000)

afterAll(() => dp?.teardown())

describe('node stats after a drain', () => {
  it('name no replica and no data once `node drain` took every replica off the node, without waiting for the stats timer', async () => {
    const held = (await dp.shards()).filter((s) => s.replicas.some((r) => r.node === 'n3')).length
    expect(held).toBeGreaterThan(0)
    // The publish at start-up named them.
    await waitFor(async () => ((await getStatsSummary(dp.ctx, 'n3'))?.replicas === held ? true : undefined), 'n3 to publish its stats', 30_000)

    const drain = await cli(['node', 'drain', 'n3', '--yes'])
    expect(drain.code, drain.stderr + drain.stdout).toBe(0)
    expect(drain.stdout).toMatch(/node n3 is drained: it holds no replicas/)
    expect((await dp.shards()).filter((s) => s.replicas.some((r) => r.node === 'n3'))).toEqual([])

    // Bounded, and far below the 10-minute timer: the node publishes once it sees the map change.
    let last: Awaited<ReturnType<typeof getStatsSummary>>
    await waitFor(async () => ((last = await getStatsSummary(dp.ctx, 'n3'))?.replicas === 0 ? true : undefined), "n3's stats to name no replica", 20_000).catch((err: Error) => {
      throw new Error(`${err.message}; they still say ${JSON.stringify(last)}`)
    })
    expect(last).toMatchObject({replicas: 0, keys: 0, bytes: 0, pages: 0})

    const show = await cli(['node', 'show', 'n3'])
    expect(show.code, show.stderr).toBe(0)
    expect(show.stdout).toMatch(/: 0\.0 reads\/s, 0\.0 writes\/s, 0 B in 0 keys over 0 replicas/)
    expect(show.stdout).toMatch(/^0 replicas: -$/m)
    expect(show.stdout).not.toMatch(/published before/)
    const json = await cli(['node', 'show', 'n3', '--json'])
    expect(json.code, json.stderr).toBe(0)
    expect((JSON.parse(json.stdout) as {replicas: number; load: unknown}).load).toMatchObject({replicas: 0, stale: false})
    // cluster status gives the same verdict, from the same check.
    const status = await cli(['cluster', 'status', '--json'])
    expect(status.code, status.stderr).toBe(0)
    expect((JSON.parse(status.stdout) as {nodes: {id: string}[]}).nodes.find((n) => n.id === 'n3')).toMatchObject({replicas: 0, load: {replicas: 0, bytes: 0, stale: false}})
    // And so does stats (its node rows sum the pages the node published).
    const stats = await cli(['stats', '--json'])
    expect(stats.code, stats.stderr).toBe(0)
    expect((JSON.parse(stats.stdout) as {nodes: {node: string}[]}).nodes.find((n) => n.node === 'n3')).toMatchObject({replicas: 0, reportedReplicas: 0, bytes: 0, stale: false})
  }, 240_000)
})
