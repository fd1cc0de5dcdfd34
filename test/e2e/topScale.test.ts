import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../src/cluster/serviceContext.js'
import {type PrivateEtcd, startPrivateEtcd} from '../support/privateEtcd.js'
import {runCli} from '../support/runCli.js'
import {StoreSet, uniqueCluster} from '../support/testStore.js'

/**
 * `top` at scale must not read the shard map: its figures come from the census. The real
 * binary runs `top --json` against a private etcd holding 10,000 shards, and the test reads
 * how many bytes etcd sent to its clients meanwhile (etcd's own counter, from /metrics).
 * `shard list --json` on the same etcd is the control: it reads every shard, so the same
 * counter must show the whole map, proving the measure sees a shard read when there is one.
 */

const SHARDS = 10_000
const NODES = 6

/** sentBytes is etcd's count of gRPC bytes sent to clients so far. */
async function sentBytes(endpoint: string): Promise<number> {
  const text = await (await fetch(`${endpoint}/metrics`)).text()
  const m = /^etcd_network_client_grpc_sent_bytes_total (\S+)$/m.exec(text)
  if (!m) throw new Error('etcd /metrics has no etcd_network_client_grpc_sent_bytes_total')
  return Number(m[1])
}

describe('top --json at 10,000 shards', () => {
  let priv: PrivateEtcd
  const stores = new StoreSet()
  let ctx: ServiceContext
  const cluster = uniqueCluster('topscale')
  let mapBytes = 0

  beforeAll(async () => {
    priv = await startPrivateEtcd()
    ctx = makeServiceContext(stores.open(priv.endpoint, cluster), {cluster})
    const specs = Array.from({length: NODES}, (_, i) => `n${i + 1}=127.0.0.1:${17201 + i}@z${i % 3}`).join(',')
    await initCluster(ctx, {shards: SHARDS, rf: 3, nodes: parseNodeSpecs(specs), force: false})
    for await (const page of ctx.store.scan(ctx.keys.shardsPrefix)) for (const kv of page.items) mapBytes += kv.key.length + kv.value.length
  }, 180_000)

  afterAll(async () => {
    stores.closeAll()
    await priv?.dispose()
  })

  it('Given 10,000 shards, When top --json runs, Then it shows the census figures and etcd sends it a small fraction of the shard map; shard list (the control) gets all of it', async () => {
    const flags = ['--endpoints', priv.endpoint, '--cluster', cluster]
    const before = await sentBytes(priv.endpoint)
    const top = await runCli(['top', ...flags, '--json'], {cwd: process.cwd(), timeoutMs: 120_000})
    const topBytes = (await sentBytes(priv.endpoint)) - before
    expect(top.code, top.stderr).toBe(0)
    const snap = JSON.parse(top.stdout) as {header: {shards: number; movingShards: number; underReplicatedShards: number; replicasOnDownNodes: number; censusKnown: boolean}; nodes: {id: string; replicas: number; down: boolean}[]}
    expect(snap.header).toMatchObject({shards: SHARDS, movingShards: 0, underReplicatedShards: SHARDS, censusKnown: true, replicasOnDownNodes: 0})
    expect(snap.nodes).toHaveLength(NODES)
    expect(snap.nodes.reduce((n, row) => n + row.replicas, 0)).toBe(SHARDS * 3)

    const listBefore = await sentBytes(priv.endpoint)
    const list = await runCli(['shard', 'list', ...flags, '--json'], {cwd: process.cwd(), timeoutMs: 120_000})
    const listBytes = (await sentBytes(priv.endpoint)) - listBefore
    expect(list.code, list.stderr).toBe(0)
    expect(mapBytes).toBeGreaterThan(500_000)
    // The control: reading every shard costs at least the map's bytes on this counter.
    expect(listBytes).toBeGreaterThan(mapBytes)
    // top: meta, nodes, census, moves, ... but no shard page (a single page of 1,000 shards would be a tenth of the map).
    expect(topBytes).toBeLessThan(mapBytes / 20)
  }, 300_000)
})
