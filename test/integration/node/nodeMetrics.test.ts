import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {keyHash} from '../../../src/model/hash.js'
import {formatHlc} from '../../../src/model/hlc.js'
import {loadClusterToken} from '../../../src/node/clusterToken.js'
import {NodeClient} from '../../../src/node/nodeClient.js'
import {type NodeProcess, startNodeProcess} from './nodeProcess.js'
import {registerCluster, type RegisteredCluster} from './twoNodeCluster.js'

/**
 * A real `node serve` scraped on /metrics after real traffic: requests by operation with
 * latency, apply batches and bytes by kind (copy-in), snapshot bytes (copy-out), digest
 * latency, bytes and keys per held shard, standard Node.js process metrics; and its log
 * lines are JSON with time, level and msg.
 */

let cluster: RegisteredCluster
let dir: string
let proc: NodeProcess
let client: NodeClient

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shardctl-nmetrics-'))
  cluster = await registerCluster(inject('etcdEndpoint'), 'nmetrics', {shards: 2, rf: 1, nodes: ['n1']})
  const token = await loadClusterToken(cluster.ctx, {create: true})
  proc = await startNodeProcess({...cluster.connection, id: 'n1', port: cluster.ports.n1!, dataDir: join(dir, 'n1')})
  client = new NodeClient({node: 'n1', address: proc.address, token, timeoutMs: 10_000})
  const shard = cluster.shards[0]!
  const records = []
  for (let i = 0; records.length < 20 && i < 100_000; i++) {
    const key = Buffer.from(`k${i}`)
    const h = keyHash(key)
    if (h >= shard.range.lo && h < shard.range.hi) records.push({key, value: Buffer.from(`v${i}`), version: formatHlc({wall: Date.now(), counter: records.length, writer: 't'})})
  }
  await client.apply(shard.id, shard.epoch, records.slice(0, 10), 'write')
  await client.apply(shard.id, shard.epoch, records.slice(10), 'repair')
  await client.get(shard.id, shard.epoch, records[0]!.key)
  await client.snapshotChunk(shard.id, shard.epoch, {maxBytes: 1 << 20})
  await client.digest(shard.id, shard.epoch)
  // One delete: a tombstone the node must count (and not purge within the grace).
  await client.apply(shard.id, shard.epoch, [{key: records[0]!.key, value: null, version: formatHlc({wall: Date.now(), counter: 99, writer: 't'})}], 'write')
  // One hinted write delivered later: counted as a replay, apart from client writes.
  await client.apply(shard.id, shard.epoch, [{key: records[1]!.key, value: Buffer.from('hinted'), version: formatHlc({wall: Date.now(), counter: 100, writer: 't'})}], 'write', {replay: true})
}, 90_000)

afterAll(async () => {
  await client?.close()
  await proc?.kill()
  cluster?.close()
  if (dir) rmSync(dir, {recursive: true, force: true})
})

describe('storage node /metrics', () => {
  it('exposes requests, apply batches, copy bytes, digest latency, per-shard sizes and process metrics', async () => {
    const res = await fetch(`http://${proc.address}/metrics`)
    expect(res.status).toBe(200)
    const text = await res.text()
    const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN)
    expect(value(/^shardctl_node_requests_total\{op="apply",status="200"\} (\d+)/m)).toBe(4)
    expect(value(/^shardctl_node_apply_batches_total\{kind="write"\} (\d+)/m)).toBe(2)
    expect(value(/^shardctl_node_apply_batches_total\{kind="replay"\} (\d+)/m)).toBe(1)
    expect(value(/^shardctl_node_apply_batches_total\{kind="repair"\} (\d+)/m)).toBe(1)
    expect(value(/^shardctl_node_apply_bytes_total\{kind="repair"\} (\d+)/m)).toBeGreaterThan(0)
    expect(value(/^shardctl_node_copy_out_bytes_total (\d+)/m)).toBeGreaterThan(0)
    expect(value(/^shardctl_node_request_duration_seconds_count\{op="digest"\} (\d+)/m)).toBe(1)
    expect(value(/^shardctl_node_request_duration_seconds_count\{op="get"\} (\d+)/m)).toBe(1)
    expect(value(/^shardctl_node_shard_keys\{shard="\d+",role="voter"\} (\d+)/m)).toBe(20) // the tombstone replaced a record
    expect(value(/^shardctl_node_shard_bytes\{shard="\d+",role="voter"\} (\d+)/m)).toBeGreaterThan(0)
    // Two group commits (the write batch, and the copy batch through the group path) at least, each timed with its fsync.
    expect(value(/^shardctl_node_commit_duration_seconds_count\{kind="group"\} (\d+)/m)).toBeGreaterThanOrEqual(2)
    expect(value(/^shardctl_node_tombstones (\d+)/m)).toBe(1)
    expect(value(/^shardctl_node_tombstones_purged_total (\d+)/m)).toBe(0)
    expect(text).toMatch(/^process_cpu_seconds_total /m)
    expect(text).toMatch(/^nodejs_heap_size_used_bytes /m)
  }, 60_000)

  it('logs JSON lines with time, level and msg', () => {
    const lines = proc.logs().split('\n').filter((l) => l.startsWith('{'))
    expect(lines.length).toBeGreaterThan(0)
    for (const l of lines) expect(JSON.parse(l)).toMatchObject({time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), level: expect.any(String), msg: expect.any(String)})
  })
})
