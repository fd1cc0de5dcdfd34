import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../../src/cluster/serviceContext.js'
import {keyHash} from '../../../src/model/hash.js'
import {formatHlc} from '../../../src/model/hlc.js'
import {type Shard} from '../../../src/model/shard.js'
import {loadClusterToken} from '../../../src/node/clusterToken.js'
import {digestLayout} from '../../../src/node/digestLayout.js'
import {NodeClient} from '../../../src/node/nodeClient.js'
import {type NodeRecord} from '../../../src/node/protocol.js'
import {encodedRecordSize} from '../../../src/node/recordCodec.js'
import {listBucketsOnAll} from '../../../src/repair/bucketListings.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'
import {type NodeProcess, startNodeProcess} from './nodeProcess.js'

/**
 * Bucket listings (POST /v1/shards/{id}/buckets) on two real `node serve` processes whose
 * copies of a shard differ in every record: 24 MiB of 64 KiB values on one, the same keys at
 * other versions on the other, so every digest bucket differs. What repair and verify ask
 * (listBucketsOnAll, with a byte bound) comes back in answers no larger than the bound plus
 * one bucket, and covers every record; a request without a bound (what builds before the
 * bound send, which read the body as every asked bucket) still gets every asked bucket.
 */
const VALUE = 64 * 1024
const RECORDS = 384
const BOUND = 2 * 1024 * 1024

const stores = new StoreSet()
const cluster = uniqueCluster('bucket-bound')
let dir: string
const procs: NodeProcess[] = []
const clients: NodeClient[] = []
let shard: Shard

beforeAll(async () => {
  const endpoint = inject('etcdEndpoint')
  dir = mkdtempSync(join(tmpdir(), 'shardctl-bucket-bound-'))
  const ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
  // Placeholder ports in the records: each node starts on port 0 and registers the port it bound.
  await initCluster(ctx, {shards: 1, rf: 2, nodes: parseNodeSpecs('n1=127.0.0.1:1,n2=127.0.0.1:2'), force: false})
  const token = await loadClusterToken(ctx, {create: true})
  for (const i of [0, 1]) {
    const proc = await startNodeProcess({endpoint, cluster, id: `n${i + 1}`, port: 0, dataDir: join(dir, `n${i + 1}`)})
    procs.push(proc)
    clients.push(new NodeClient({node: `n${i + 1}`, address: proc.address, token, timeoutMs: 60_000}))
  }
  shard = (await listShards(ctx)).shards[0]!.value
  const now = Date.now()
  for (const [n, client] of clients.entries()) {
    for (let batch = 0; batch < RECORDS; batch += 64) {
      const records = Array.from({length: 64}, (_, j) => ({key: Buffer.from(`k${batch + j}`), value: Buffer.alloc(VALUE, 97 + n), version: formatHlc({wall: now + n, counter: batch + j, writer: `w${n}`})}))
      await client.apply(shard.id, shard.epoch, records, 'write')
    }
  }
}, 120_000)

afterAll(async () => {
  for (const c of clients) await c.close()
  for (const p of procs) await p.kill()
  stores.closeAll()
  if (dir) rmSync(dir, {recursive: true, force: true})
})

const bytesOf = (records: readonly NodeRecord[]) => records.reduce((sum, r) => sum + encodedRecordSize(r), 0)

describe('bucket listings of a shard that differs everywhere (real node processes)', {timeout: 120_000}, () => {
  it('repair and verify read it in answers of at most the bound plus one bucket, covering every record', async () => {
    const {bounds} = digestLayout(shard.range)
    const all = Array.from({length: bounds.length - 1}, (_, i) => i)
    // The largest bucket, as both nodes hold it: an answer may pass the bound by at most that.
    const bucketBytes = new Map<number, number>()
    for (let k = 0; k < RECORDS; k++) {
      const h = keyHash(Buffer.from(`k${k}`))
      const b = bounds.findIndex((lo, i) => h >= lo && h < bounds[i + 1]!)
      bucketBytes.set(b, (bucketBytes.get(b) ?? 0) + VALUE + 64)
    }
    const largest = Math.max(...bucketBytes.values())
    const answers: number[] = []
    const measured = new Map(clients.map((c) => [c.node, {bucketRecords: async (...a: Parameters<NodeClient['bucketRecords']>) => {
      const r = await c.bucketRecords(...a)
      answers.push(bytesOf(r.records))
      return r
    }}]))
    const seen = new Map<string, number>(clients.map((c) => [c.node, 0]))
    let steps = 0
    for await (const step of listBucketsOnAll(measured, shard.id, shard.epoch, bounds, all, {bucketsPerRequest: 256, maxBytes: BOUND})) {
      steps++
      for (const [node, records] of step.listings) seen.set(node, seen.get(node)! + records.length)
    }
    expect([...seen.values()]).toEqual([RECORDS, RECORDS])
    expect(steps).toBeGreaterThan(4)
    expect(answers.length).toBeGreaterThan(8)
    expect(Math.max(...answers)).toBeLessThanOrEqual(BOUND + largest + 64 * 1024)
    // 24 MiB a node, never in one answer.
    expect(RECORDS * VALUE).toBeGreaterThan(8 * BOUND)
  })

  it('a request without a bound (an older asker) still gets every asked bucket in one answer', async () => {
    const {bounds} = digestLayout(shard.range)
    const all = Array.from({length: bounds.length - 1}, (_, i) => i)
    const whole = await clients[0]!.bucketRecords(shard.id, shard.epoch, all)
    expect(whole.answered).toEqual(all)
    expect(whole.records).toHaveLength(RECORDS)
    expect(bytesOf(whole.records)).toBeGreaterThan(RECORDS * VALUE)
  })
})
