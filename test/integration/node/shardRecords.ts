import {listShards} from '../../../src/cluster/clusterRepo.js'
import {type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {keyHash} from '../../../src/model/hash.js'
import {formatHlc} from '../../../src/model/hlc.js'
import {type Shard} from '../../../src/model/shard.js'
import {type NodeClient} from '../../../src/node/nodeClient.js'
import {type NodeRecord} from '../../../src/node/protocol.js'

/** shardRecords reads every record node `c` holds of `shard` (key → value, null for a tombstone) through its snapshot route, a bounded number of chunks. */
export async function shardRecords(c: NodeClient, shard: Shard): Promise<Map<string, Buffer | null>> {
  const out = new Map<string, Buffer | null>()
  let cursor: string | undefined
  for (let i = 0; i < 1000; i++) {
    const chunk = await c.snapshotChunk(shard.id, shard.epoch, {cursor, maxBytes: 1024 * 1024})
    for (const r of chunk.records) out.set(r.key.toString(), r.value)
    cursor = chunk.cursor
    if (!cursor) return out
  }
  throw new Error(`the snapshot of shard ${shard.id} did not finish in 1000 chunks`)
}

/** FilledRecords are the records {@link fillShards} wrote: key → the shard it is in and its value. */
export type FilledRecords = Map<string, {shard: number; value: string}>

/**
 * fillShards writes `perShard` records into every shard of the cluster through `client` (a
 * client of the named node), on the shard's first replica: keys `k-<shard>-<i>` that hash into
 * the shard (a bounded search), values of some 200 bytes so a copy of the shard takes a while.
 */
export async function fillShards(ctx: ServiceContext, client: (node: string) => NodeClient, perShard: number): Promise<FilledRecords> {
  const written: FilledRecords = new Map()
  let n = 0
  for (const {value: shard} of (await listShards(ctx)).shards) {
    const records: NodeRecord[] = []
    for (let i = 0; records.length < perShard && i < 1_000_000; i++) {
      const key = `k-${shard.id}-${i}`
      const h = keyHash(key)
      if (h < shard.range.lo || h >= shard.range.hi) continue
      const value = `v-${key}-${'x'.repeat(200)}`
      records.push({key: Buffer.from(key), value: Buffer.from(value), version: formatHlc({wall: Date.now(), counter: n++, writer: 'test'})})
      written.set(key, {shard: shard.id, value})
    }
    await client(shard.replicas[0]!.node).apply(shard.id, shard.epoch, records, 'write')
  }
  return written
}
