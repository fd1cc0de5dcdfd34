import {type Shard} from '../../../src/model/shard.js'
import {type NodeClient} from '../../../src/node/nodeClient.js'

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
