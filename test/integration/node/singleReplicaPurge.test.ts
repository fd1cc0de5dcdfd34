import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {keyHash} from '../../../src/model/hash.js'
import {formatHlc} from '../../../src/model/hlc.js'
import {loadClusterToken} from '../../../src/node/clusterToken.js'
import {NodeClient} from '../../../src/node/nodeClient.js'
import type {Shard} from '../../../src/model/shard.js'
import {type NodeProcess, startNodeProcess} from './nodeProcess.js'
import {registerCluster, type RegisteredCluster} from './twoNodeCluster.js'

/**
 * At rf 1 the one replica is the whole shard: anti-entropy has nothing to compare, but it
 * must still collect its tombstones once they are older than the grace — fencing first, so
 * a value older than a purged delete cannot come back. A real etcd and one real `node
 * serve` with a short `--tombstone-grace` (anti-entropy runs every second then): delete
 * keys, wait for the node's tombstone gauge to reach 0, then offer the deleted keys' old
 * values again the way repair would.
 */

let cluster: RegisteredCluster
let dir: string
let proc: NodeProcess
let client: NodeClient
let shard: Shard
const deleted: {key: Buffer; version: string}[] = []
const live: {key: Buffer; value: Buffer}[] = []

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`http://${proc.address}/metrics`)).text()
  return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? NaN)
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shardctl-rf1purge-'))
  cluster = await registerCluster(inject('etcdEndpoint'), 'rf1purge', {shards: 1, rf: 1, nodes: ['n1']})
  const token = await loadClusterToken(cluster.ctx, {create: true})
  proc = await startNodeProcess({...cluster.connection, id: 'n1', port: cluster.ports.n1!, dataDir: join(dir, 'n1'), extra: ['--tombstone-grace', '2s', '--max-clock-offset', '50ms']})
  client = new NodeClient({node: 'n1', address: proc.address, token, timeoutMs: 10_000})
  shard = cluster.shards[0]!
  const wall = Date.now()
  const values = []
  for (let i = 0; values.length < 6 && i < 100_000; i++) {
    const key = Buffer.from(`k${i}`)
    const h = keyHash(key)
    if (h >= shard.range.lo && h < shard.range.hi) values.push({key, value: Buffer.from(`v${i}`), version: formatHlc({wall, counter: values.length, writer: 't'})})
  }
  await client.apply(shard.id, shard.epoch, values, 'write')
  // Delete four of the six: four tombstones, two live values.
  for (const v of values.slice(0, 4)) deleted.push({key: v.key, version: v.version})
  live.push(...values.slice(4))
  await client.apply(shard.id, shard.epoch, deleted.map((d, i) => ({key: d.key, value: null, version: formatHlc({wall: wall + 1, counter: i, writer: 't'})})), 'write')
}, 90_000)

afterAll(async () => {
  await client?.close()
  await proc?.kill()
  cluster?.close()
  if (dir) rmSync(dir, {recursive: true, force: true})
})

describe('anti-entropy at rf 1', () => {
  it('purges the tombstones once they are past the grace, and a deleted value does not come back', async () => {
    expect(await metric('shardctl_node_tombstones')).toBe(4)
    // Grace 2 s, anti-entropy every 1 s: a handful of periods past the grace is plenty; 40 s bounds a loaded machine.
    const deadline = Date.now() + 40_000
    while ((await metric('shardctl_node_tombstones')) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250))
    expect(await metric('shardctl_node_tombstones')).toBe(0)
    expect(await metric('shardctl_node_tombstones_purged_total')).toBe(4)
    // The live values stay.
    for (const v of live) expect((await client.get(shard.id, shard.epoch, v.key)).record?.value?.toString()).toBe(v.value.toString())
    // The fence came first: the deleted keys' older values, offered again as repair would, are dropped...
    await client.apply(shard.id, shard.epoch, deleted.map((d, i) => ({key: d.key, value: Buffer.from(`old${i}`), version: d.version})), 'repair')
    for (const d of deleted) expect((await client.get(shard.id, shard.epoch, d.key)).record).toBeUndefined()
    // ...and as client writes they are refused (older than the stale floor).
    await expect(client.apply(shard.id, shard.epoch, [{key: deleted[0]!.key, value: Buffer.from('late'), version: deleted[0]!.version}], 'write')).rejects.toThrow()
    expect((await client.get(shard.id, shard.epoch, deleted[0]!.key)).record).toBeUndefined()
  }, 90_000)
})
