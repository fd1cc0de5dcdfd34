import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {clusterStatus} from '../../../src/cluster/clusterStatus.js'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {addNode, listNodeViews, removeNode, setNode, setNodeState} from '../../../src/cluster/nodeService.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {listShardRecords, locateKey, showShard} from '../../../src/cluster/shardService.js'
import {readSnapshot} from '../../../src/cluster/snapshotService.js'
import {isUserError} from '../../../src/errors/errors.js'
import {keyHash} from '../../../src/model/hash.js'
import {checkTiling, rangeContains} from '../../../src/model/range.js'
import {ClusterSnapshotSchema} from '../../../src/model/snapshot.js'
import {putNodeStats} from '../../../src/stats/statsPublish.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'

const stores = new StoreSet()
let ctx: ServiceContext
const nodes = parseNodeSpecs('n1=127.0.0.1:7001@a,n2=127.0.0.1:7002@b,n3=127.0.0.1:7003@c,n4=127.0.0.1:7004@a')

async function expectCode(p: Promise<unknown>, code: Parameters<typeof isUserError>[1], message?: RegExp) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(isUserError(err, code), `expected UserError ${code}, got ${String(err)}`).toBe(true)
  if (message) expect((err as Error).message).toMatch(message)
}

beforeAll(() => {
  const cluster = uniqueCluster('svc')
  ctx = makeServiceContext(stores.open(inject('etcdEndpoint'), cluster), {cluster})
})
afterAll(() => stores.closeAll())

describe('cluster services on a real etcd', () => {
  it('reports a missing cluster as NOT_FOUND with the init command', async () => {
    await expectCode(clusterStatus(ctx), 'NOT_FOUND', /does not exist/)
  })

  it('initialises a cluster and refuses to overwrite it without force', async () => {
    const r = await initCluster(ctx, {shards: 300, rf: 3, nodes, force: false})
    expect(r).toMatchObject({shards: 300, rf: 3, replaced: false})
    expect(r.nodes.reduce((a, n) => a + n.replicas, 0)).toBe(900)
    await expectCode(initCluster(ctx, {shards: 8, rf: 3, nodes, force: false}), 'ALREADY_EXISTS')
    const status = await clusterStatus(ctx)
    expect(status.shards).toBe(300)
    expect(status.meta).toMatchObject({rf: 3, nextShardId: 300, hash: 'murmur3-x86_32'})
    expect(status.nodes.map((n) => n.id)).toEqual(['n1', 'n2', 'n3', 'n4'])
    // A new cluster's write floor: no router has run yet (docs/moves.md "The write floor").
    expect(status.writeFloor).toMatchObject({w: null, majority: false, by: null})
  })

  it('re-initialises with --force, replacing every shard', async () => {
    const r = await initCluster(ctx, {shards: 16, rf: 2, nodes, force: true})
    expect(r.replaced).toBe(true)
    const shards = await listShardRecords(ctx)
    expect(shards).toHaveLength(16)
    expect(checkTiling(shards.map((s) => s.range))).toBeUndefined()
  })

  it('names the ids the cluster has when asked for a shard it does not have', async () => {
    await expectCode(showShard(ctx, 99), 'NOT_FOUND', /^shard 99 does not exist in cluster "t-svc-[0-9a-f]+"; this cluster has shards 0\.\.15$/)
    expect((await showShard(ctx, 15)).id).toBe(15)
  })

  it('refuses a negative shard id as bad input naming argument ID and the ids the cluster has (it named neither)', async () => {
    await expectCode(showShard(ctx, -1), 'BAD_INPUT', /^argument ID: a shard id is a whole number, 0 or more \(shards are numbered from 0\); got "-1"; this cluster has shards 0\.\.15$/)
  })

  it('locates keys in the shard whose range holds their hash', async () => {
    for (const key of ['user:1', 'order/2026', 'ключ']) {
      const loc = await locateKey(ctx, key)
      expect(loc.hash).toBe(keyHash(key))
      expect(rangeContains(loc.range, loc.hash)).toBe(true)
      expect(loc.readFrom).toHaveLength(2)
    }
  })

  it('refuses to locate a key no replica would store (empty, or over 4096 bytes in UTF-8): BAD_INPUT naming the rule', async () => {
    for (const [key, says] of [['', /the key is empty/], ['k'.repeat(4097), /the key is 4097 bytes long in UTF-8; keys are at most 4096 bytes/]] as const) {
      const err: unknown = await locateKey(ctx, key).catch((e: unknown) => e)
      expect(isUserError(err) && err.code).toBe('BAD_INPUT')
      expect((err as Error).message).toMatch(says)
    }
    expect((await locateKey(ctx, 'k'.repeat(4096))).hash).toBe(keyHash('k'.repeat(4096)))
  })

  it('adds, updates, cordons and removes nodes; repeats report "already"', async () => {
    await addNode(ctx, {id: 'n5', address: '127.0.0.1:7005', zone: 'c'}, {reads: 100})
    await expectCode(addNode(ctx, {id: 'n5', address: '127.0.0.1:7009', zone: 'c'}, undefined), 'ALREADY_EXISTS')
    await expectCode(addNode(ctx, {id: 'n6', address: '127.0.0.1:7005', zone: 'c'}, undefined), 'BAD_INPUT', /already used by node "n5"/)
    const set = await setNode(ctx, 'n5', {capacity: {bytes: 1000}})
    expect(set.node.capacity).toEqual({reads: 100, bytes: 1000})
    expect((await setNode(ctx, 'n5', {capacity: {bytes: 1000}})).changed).toBe(false)
    expect((await setNodeState(ctx, 'n5', 'cordoned')).changed).toBe(true)
    expect((await setNodeState(ctx, 'n5', 'cordoned')).message).toMatch(/already cordoned/)
    expect((await removeNode(ctx, 'n5')).changed).toBe(true)
    expect((await removeNode(ctx, 'n5')).message).toMatch(/node n5 is not in the cluster: nothing to remove \(removed already, or a typo/)
    await expectCode(removeNode(ctx, 'n1'), 'PRECONDITION', /still holds \d+ replica/)
    await expectCode(setNodeState(ctx, 'nope', 'cordoned'), 'NOT_FOUND')
    expect((await listNodeViews(ctx)).map((n) => n.id)).toEqual(['n1', 'n2', 'n3', 'n4'])
  })

  it('exports a snapshot that validates and carries published load for held replicas only', async () => {
    const shards = await listShardRecords(ctx, {node: 'n1'})
    await putNodeStats(ctx, {node: 'n1', at: 'now', shards: [{shard: shards[0]!.id, reads: 5, writes: 1, bytes: 10, keys: 1}, {shard: 9999, reads: 1, writes: 1, bytes: 1, keys: 1}]})
    const snap = await readSnapshot(ctx)
    expect(ClusterSnapshotSchema.safeParse(JSON.parse(JSON.stringify(snap))).success).toBe(true)
    expect(snap.load).toEqual([{node: 'n1', shard: shards[0]!.id, reads: 5, writes: 1, bytes: 10, keys: 1}])
    expect(BigInt(snap.revision)).toBeGreaterThan(0n)
  })

  it('names the key of a corrupt value', async () => {
    await ctx.store.put(ctx.keys.node('n2'), '{"id":"n2","address":"not an address","createdAt":"x"}')
    await expectCode(listNodeViews(ctx), 'CORRUPT_VALUE', new RegExp(`${ctx.keys.node('n2')} is invalid: address: address must be host:port`))
    await ctx.store.put(ctx.keys.shard(3), 'garbage')
    await expectCode(listShardRecords(ctx), 'CORRUPT_VALUE', /shards\/00000003 holds invalid JSON/)
  })
})
