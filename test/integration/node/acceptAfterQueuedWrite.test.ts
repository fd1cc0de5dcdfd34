import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {getShard} from '../../../src/cluster/clusterRepo.js'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {freePort} from '../../../src/localEtcd/freePort.js'
import {keyHash} from '../../../src/model/hash.js'
import {formatHlc} from '../../../src/model/hlc.js'
import {type Shard, ShardSchema} from '../../../src/model/shard.js'
import {loadClusterToken} from '../../../src/node/clusterToken.js'
import {NodeClient} from '../../../src/node/nodeClient.js'
import {isNodeRequestError} from '../../../src/node/nodeRequestError.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'
import {type NodeProcess, startNodeProcess} from './nodeProcess.js'

/**
 * The review-15 reproduction on a real node process (rf 1): a 7.7 MB apply, then a small
 * write W at epoch E queued behind it; the shard moves to E+1 (the other node joining) and the source
 * is asked to accept E+1, as a move's barrier does. When accept answers, W must be on the
 * source if it was (or will be) acknowledged at E: the copy reads from then on, and at rf 1
 * a write the copy missed is lost with the source at cleanup.
 */
const stores = new StoreSet()
let proc: NodeProcess | undefined
let client: NodeClient | undefined
let ctx: ServiceContext
let dir: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'shardctl-accept-'))
})

afterAll(async () => {
  await client?.destroy()
  await proc?.kill()
  stores.closeAll()
  rmSync(dir, {recursive: true, force: true})
})

function keysIn(shard: Shard, prefix: string, n: number): Buffer[] {
  const out: Buffer[] = []
  for (let i = 0; out.length < n && i < 10_000_000; i++) {
    const k = Buffer.from(`${prefix}-${i}`)
    const h = keyHash(k)
    if (h >= shard.range.lo && h < shard.range.hi) out.push(k)
  }
  if (out.length < n) throw new Error('not enough keys')
  return out
}

describe('accept on a node process with a write queued behind a large apply', () => {
  it('given a 7.7 MB apply then a small write W at epoch E, when the shard moves to E+1 and the source accepts it, then W is on the source when accept answers (or W was refused)', async () => {
    const endpoint = inject('etcdEndpoint')
    const cluster = uniqueCluster('accept')
    ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
    const ports = {n1: await freePort(), n2: await freePort()}
    await initCluster(ctx, {shards: 2, rf: 1, nodes: parseNodeSpecs(`n1=127.0.0.1:${ports.n1},n2=127.0.0.1:${ports.n2}`), force: false})
    const list = await ctx.store.listTyped(ctx.keys.shardsPrefix, ShardSchema)
    const shard = list.items[0]!.value
    const src = shard.replicas[0]!.node as 'n1' | 'n2'
    const dst = src === 'n1' ? 'n2' : 'n1'
    proc = await startNodeProcess({endpoint, cluster, id: src, port: ports[src], dataDir: join(dir, src)})
    client = new NodeClient({node: src, address: `127.0.0.1:${ports[src]}`, token: await loadClusterToken(ctx, {create: false}), timeoutMs: 20_000})
    const now = Date.now()
    const big = keysIn(shard, 'big', 1000).map((key, i) => ({key, version: formatHlc({wall: now, counter: i, writer: 't'}), value: Buffer.alloc(7700, i % 251)}))
    const [wKey] = keysIn(shard, 'w', 1)
    const E = shard.epoch

    const bigApply = client.apply(shard.id, E, big, 'write')
    await new Promise((r) => setTimeout(r, 150)) // the big apply's body is in and it is queued at the writer
    let wAcked = false
    const w = client.apply(shard.id, E, [{key: wKey!, version: formatHlc({wall: Date.now(), counter: 0, writer: 'w'}), value: Buffer.from('W')}], 'write').then(
      () => (wAcked = true),
      (err: unknown) => {
        if (isNodeRequestError(err) && err.code === 'STALE_EPOCH') return false // refused, never acknowledged
        throw err
      },
    )
    // W is being served beside the big apply (tracked before its fence; its tiny body is read at once), then past its fence.
    for (let i = 0; i < 200 && (await client.inflight(shard.id)).inflight < 2; i++) await new Promise((r) => setTimeout(r, 5))
    await new Promise((r) => setTimeout(r, 30))
    // The move's joining step: E+1 with the other node joining, one etcd transaction.
    const cur = await getShard(ctx, shard.id)
    const next = ShardSchema.parse({...cur.value, epoch: E + 1, replicas: [...cur.value.replicas, {node: dst, role: 'joining'}]})
    await ctx.store.update(ctx.keys.shard(shard.id), JSON.stringify(next), cur.modRevision)
    // The barrier: ask until the source accepts (it answers NOT_SERVING while older writes run).
    let accepted = false
    for (let i = 0; i < 50 && !accepted; i++) {
      try {
        expect((await client.accept(shard.id, E + 1, {timeoutMs: 5000})).epoch).toBe(E + 1)
        accepted = true
      } catch (err) {
        if (!(isNodeRequestError(err) && err.code === 'NOT_SERVING')) throw err
      }
    }
    expect(accepted).toBe(true)
    // What the copy reads from now on.
    const seen = (await client.get(shard.id, E + 1, wKey!)).record?.value?.toString()
    await bigApply
    const acked = await w
    expect(acked).toBe(wAcked)
    if (wAcked) expect(seen).toBe('W')
  }, 60_000)
})
