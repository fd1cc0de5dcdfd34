import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {getShard} from '../../../src/cluster/clusterRepo.js'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {keyHash} from '../../../src/model/hash.js'
import {formatHlc} from '../../../src/model/hlc.js'
import {ClusterMetaSchema} from '../../../src/model/cluster.js'
import {type HashRange} from '../../../src/model/range.js'
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
 * a write the copy missed is lost with the source at cleanup. The second case splits the shard
 * first (no barrier) and moves the upper half, whose new id the queued write never named.
 */
const stores = new StoreSet()
const procs: NodeProcess[] = []
const clients: NodeClient[] = []
let dir: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'shardctl-accept-'))
})

afterAll(async () => {
  await Promise.all(clients.map((c) => c.destroy()))
  await Promise.all(procs.map((p) => p.kill()))
  stores.closeAll()
  rmSync(dir, {recursive: true, force: true})
})

function keysIn(range: HashRange, prefix: string, n: number): Buffer[] {
  const out: Buffer[] = []
  for (let i = 0; out.length < n && i < 10_000_000; i++) {
    const k = Buffer.from(`${prefix}-${i}`)
    const h = keyHash(k)
    if (h >= range.lo && h < range.hi) out.push(k)
  }
  if (out.length < n) throw new Error('not enough keys')
  return out
}

/** Source is a cluster of two nodes at rf 1 with the holder of its first shard running (the other is only named, as a move's destination). */
interface Source {
  ctx: ServiceContext
  shard: Shard
  dst: string
  client: NodeClient
}

async function startSource(name: string): Promise<Source> {
  const cluster = uniqueCluster(name)
  const ctx = makeServiceContext(stores.open(inject('etcdEndpoint'), cluster), {cluster})
  // Placeholder ports in the records: the source starts on port 0 and registers the port it bound (dst never runs).
  await initCluster(ctx, {shards: 2, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:1,n2=127.0.0.1:2'), force: false})
  const shard = (await ctx.store.listTyped(ctx.keys.shardsPrefix, ShardSchema)).items[0]!.value
  const src = shard.replicas[0]!.node as 'n1' | 'n2'
  const proc = await startNodeProcess({endpoint: inject('etcdEndpoint'), cluster, id: src, port: 0, dataDir: join(dir, `${name}-${src}`)})
  procs.push(proc)
  const client = new NodeClient({node: src, address: proc.address, token: await loadClusterToken(ctx, {create: false}), timeoutMs: 20_000})
  clients.push(client)
  return {ctx, shard, dst: src === 'n1' ? 'n2' : 'n1', client}
}

/**
 * queueBehindBigApply sends a 7.7 MB apply to `shard` at its epoch, then a small write W of
 * `wKey` (`bigApplies` of them: a longer queue), and returns once W is past its fence (queued behind the big apply): `done` settles
 * with whether W was acknowledged (false: refused with one of `refusals`, never acknowledged). A
 * node that lost its lease answers a write committing after that NOT_SERVING: the lease case
 * passes it among `refusals`.
 */
async function queueBehindBigApply(client: NodeClient, shard: Shard, wKey: Buffer, bigApplies = 1, refusals: readonly string[] = ['STALE_EPOCH']): Promise<{done: Promise<boolean>}> {
  const refused = (err: unknown) => isNodeRequestError(err) && refusals.includes(err.code)
  const now = Date.now()
  const keys = keysIn(shard.range, 'big', 1000 * bigApplies)
  const applies = Array.from({length: bigApplies}, (_, a) => keys.slice(a * 1000, (a + 1) * 1000).map((key, i) => ({key, version: formatHlc({wall: now, counter: i, writer: `t${a}`}), value: Buffer.alloc(7700, i % 251)})))
  // A big apply still uploading when the epoch moves on is refused (STALE_EPOCH): it only fills the queue.
  const bigApply = Promise.all(applies.map((big) => client.apply(shard.id, shard.epoch, big, 'write').catch((err: unknown) => {
    if (!refused(err)) throw err
  })))
  await new Promise((r) => setTimeout(r, 150)) // the big apply's body is in and it is queued at the writer
  const w = client.apply(shard.id, shard.epoch, [{key: wKey, version: formatHlc({wall: Date.now(), counter: 0, writer: 'w'}), value: Buffer.from('W')}], 'write').then(
    () => true,
    (err: unknown) => {
      if (refused(err)) return false
      throw err
    },
  )
  // W is being served beside the big apply (tracked before its fence; its tiny body is read at once), then past its fence.
  for (let i = 0; i < 200 && (await client.inflight(shard.id)).inflight < bigApplies + 1; i++) await new Promise((r) => setTimeout(r, 5))
  await new Promise((r) => setTimeout(r, 30))
  return {done: Promise.all([bigApply, w]).then(([, acked]) => acked)}
}

/** acceptAsBarrier asks the node to accept `epoch` of `shard` until it does, as a move's barrier (NOT_SERVING while older writes run). */
async function acceptAsBarrier(client: NodeClient, shard: number, epoch: number): Promise<void> {
  for (let i = 0; i < 50; i++) {
    try {
      expect((await client.accept(shard, epoch, {timeoutMs: 5000})).epoch).toBe(epoch)
      return
    } catch (err) {
      if (!(isNodeRequestError(err) && err.code === 'NOT_SERVING')) throw err
    }
  }
  throw new Error(`accept of epoch ${epoch} never answered`)
}

describe('accept on a node process with a write queued behind a large apply', () => {
  it('given a 7.7 MB apply then a small write W at epoch E, when the shard moves to E+1 and the source accepts it, then W is on the source when accept answers (or W was refused)', async () => {
    const {ctx, shard, dst, client} = await startSource('accept')
    const [wKey] = keysIn(shard.range, 'w', 1)
    const w = await queueBehindBigApply(client, shard, wKey!)
    // The move's joining step: E+1 with the other node joining, one etcd transaction.
    const cur = await getShard(ctx, shard.id)
    const next = ShardSchema.parse({...cur.value, epoch: shard.epoch + 1, replicas: [...cur.value.replicas, {node: dst, role: 'joining'}]})
    await ctx.store.update(ctx.keys.shard(shard.id), JSON.stringify(next), cur.modRevision)
    await acceptAsBarrier(client, shard.id, next.epoch)
    const seen = (await client.get(shard.id, next.epoch, wKey!)).record?.value?.toString() // what the copy reads from now on
    if (await w.done) expect(seen).toBe('W')
  }, 60_000)

  it('given such a write W at the epoch E of a shard that then splits, when a move of the upper half (a new id) begins and the source accepts it, then W is on the source when accept answers (or W was refused)', async () => {
    const {ctx, shard, dst, client} = await startSource('accept-split')
    const at = shard.range.lo + Math.floor((shard.range.hi - shard.range.lo) / 2)
    const [wKey] = keysIn({lo: at, hi: shard.range.hi}, 'w', 1) // in what becomes the upper half
    const w = await queueBehindBigApply(client, shard, wKey!)
    // The split, as applySplit writes it (one transaction, no barrier), then the upper half's joining step.
    const cur = await getShard(ctx, shard.id)
    const meta = (await ctx.store.getTyped(ctx.keys.meta, ClusterMetaSchema))!
    const upperId = meta.value.nextShardId
    const lower = {...cur.value, range: {lo: shard.range.lo, hi: at}, epoch: shard.epoch + 1}
    const upper: Shard = {id: upperId, range: {lo: at, hi: shard.range.hi}, epoch: shard.epoch + 1, replicas: cur.value.replicas}
    const rev = await ctx.store.commit({
      compares: [{key: ctx.keys.shard(shard.id), modRevision: cur.modRevision}, {key: ctx.keys.meta, modRevision: meta.modRevision}],
      puts: [
        {key: ctx.keys.shard(shard.id), value: JSON.stringify(ShardSchema.parse(lower))},
        {key: ctx.keys.shard(upperId), value: JSON.stringify(ShardSchema.parse(upper))},
        {key: ctx.keys.meta, value: JSON.stringify({...meta.value, nextShardId: upperId + 1})},
      ],
    })
    expect(rev).toBeDefined()
    const joining = await getShard(ctx, upperId)
    const next = ShardSchema.parse({...upper, epoch: upper.epoch + 1, replicas: [...upper.replicas, {node: dst, role: 'joining'}]})
    await ctx.store.update(ctx.keys.shard(upperId), JSON.stringify(next), joining.modRevision)
    await acceptAsBarrier(client, upperId, next.epoch)
    const seen = (await client.get(upperId, next.epoch, wKey!)).record?.value?.toString() // what the copy of the upper half reads from now on
    if (await w.done) expect(seen).toBe('W')
  }, 60_000)

  it('given such a write W at epoch E behind 46 MB of applies, when the node loses its lease (a barrier then skips it) and the shard moves to E+1, then the node serves again only once W finished: W is there for the copy (or W was refused)', async () => {
    const {ctx, shard, dst, client} = await startSource('accept-lease')
    const src = shard.replicas[0]!.node
    const [wKey] = keysIn(shard.range, 'w', 1)
    // Read before the load: under it the node may lapse its lease by itself first (then the revoke is a no-op, and the case is the same).
    const before = (await ctx.store.get(ctx.keys.alive(src)))!
    const w = await queueBehindBigApply(client, shard, wKey!, 6, ['STALE_EPOCH', 'NOT_SERVING'])
    await ctx.store.revokeLease(before.lease) // alive/<src> is gone: a barrier now skips the node
    const cur = await getShard(ctx, shard.id)
    const next = ShardSchema.parse({...cur.value, epoch: shard.epoch + 1, replicas: [...cur.value.replicas, {node: dst, role: 'joining'}]})
    await ctx.store.update(ctx.keys.shard(shard.id), JSON.stringify(next), cur.modRevision)
    // Re-registered and serving: the copy (from this source only, at rf 1) may read now.
    for (let i = 0; i < 400; i++) {
      const a = await ctx.store.get(ctx.keys.alive(src))
      if (a && a.lease !== before.lease && (await client.health()).serving) break
      await new Promise((r) => setTimeout(r, 25))
    }
    const seen = (await client.get(shard.id, next.epoch, wKey!)).record?.value?.toString()
    if (await w.done) expect(seen).toBe('W')
  }, 60_000)
})
