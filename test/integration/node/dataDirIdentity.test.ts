import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {getMeta, getNode, listShards} from '../../../src/cluster/clusterRepo.js'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {keyHash} from '../../../src/model/hash.js'
import {formatHlc} from '../../../src/model/hlc.js'
import {NodeSchema} from '../../../src/model/node.js'
import {loadClusterToken} from '../../../src/node/clusterToken.js'
import {NodeClient} from '../../../src/node/nodeClient.js'
import {type NodeLog} from '../../../src/node/nodeLog.js'
import {StorageNode, type StorageNodeOptions} from '../../../src/node/storageNode.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'

const stores = new StoreSet()
const dirs: string[] = []
const quiet: NodeLog = {info: () => {}, warn: () => {}, error: () => {}}
let ctx: ServiceContext

const options = (dataDir: string): StorageNodeOptions => ({
  id: 'n1',
  listenHost: '127.0.0.1',
  // Port 0: each start binds a free port and registers it (the record names a placeholder until then).
  listenPort: 0,
  dataDir,
  statsIntervalMs: 60_000,
  leaseTtlSeconds: 5,
  tombstoneGraceMs: 60_000,
  shutdownTimeoutMs: 1000,
  synchronous: 'NORMAL',
  log: quiet,
})
const init = (force: boolean) => initCluster(ctx, {shards: 2, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:1'), force})
const newDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'shardctl-identity-'))
  dirs.push(d)
  return d
}

beforeAll(async () => {
  const cluster = uniqueCluster('identity')
  ctx = makeServiceContext(stores.open(inject('etcdEndpoint'), cluster), {cluster})
  await init(false)
})
afterAll(() => {
  stores.closeAll()
  for (const d of dirs) rmSync(d, {recursive: true, force: true})
})

describe('a data dir after `cluster init --force`', () => {
  it('Given a node that served the old cluster, When the cluster is re-initialised, Then its dir is refused (BAD_INPUT) and a fresh dir serves', async () => {
    const dir = newDir()
    const first = await StorageNode.start(ctx, options(dir))
    await first.stop('test')
    const before = (await getMeta(ctx)).value.uid
    await init(true)
    const after = (await getMeta(ctx)).value.uid
    expect(before).toBeDefined()
    expect(after).not.toBe(before)

    await expect(StorageNode.start(ctx, options(dir))).rejects.toMatchObject({code: 'BAD_INPUT', message: expect.stringMatching(/earlier incarnation/)})
    // Refused without changing anything: the old dir still records the old incarnation.
    await expect(StorageNode.start(ctx, options(dir))).rejects.toMatchObject({code: 'BAD_INPUT'})

    const fresh = await StorageNode.start(ctx, options(newDir()))
    expect(fresh.serving()).toBe(true)
    await fresh.stop('test')
  })
})

describe('the data dir id in the node record', () => {
  it('Given a record from before dir ids (none named), Then any dir serves and is recorded; from then on another dir is refused (BAD_INPUT) while n1 holds replicas, changing nothing', async () => {
    await init(true)
    const old = newDir()
    const a = await StorageNode.start(ctx, options(old))
    await a.stop('test')
    const recorded = (await getNode(ctx, 'n1')).value.dataDirId
    expect(recorded).toMatch(/.+/)
    // As a build before session 32 left it: no dataDirId, and no claims/n1.
    const {dataDirId: _, ...before} = (await getNode(ctx, 'n1')).value
    await ctx.store.put(ctx.keys.node('n1'), JSON.stringify(NodeSchema.parse(before)))
    await ctx.store.delete(ctx.keys.claim('n1'))

    const upgraded = newDir()
    const b = await StorageNode.start(ctx, options(upgraded))
    await b.stop('test')
    const now = await getNode(ctx, 'n1')
    expect(now.value.dataDirId).toMatch(/.+/)
    expect(now.value.dataDirId).not.toBe(recorded)

    // The first dir, which exists (it is judged once open), is not the one recorded now.
    await expect(StorageNode.start(ctx, options(old))).rejects.toMatchObject({code: 'BAD_INPUT', message: expect.stringMatching(/not the one node n1 last served from .* holds replicas of 2 shards \(2 as voter\)/)})
    const after = await getNode(ctx, 'n1')
    expect(after.modRevision).toBe(now.modRevision)
    expect(await ctx.store.get(ctx.keys.alive('n1'))).toBeUndefined()
    const again = await StorageNode.start(ctx, options(upgraded))
    expect(again.serving()).toBe(true)
    await again.stop('test')
  })
})

describe('a node record rewritten by a build that predates dir ids', () => {
  it('Given n1 recorded its dir and acknowledged a write (rf 1), When an older build cordons n1 (its schema drops dataDirId), Then a start on a new dir is still refused (BAD_INPUT), not served without the write', async () => {
    await init(true)
    const old = newDir()
    const a = await StorageNode.start(ctx, options(old))
    const shard = (await listShards(ctx)).shards[0]!.value
    let key = Buffer.alloc(0)
    for (let i = 0; ; i++) {
      key = Buffer.from(`acked-${i}`)
      const h = keyHash(key)
      if (h >= shard.range.lo && h < shard.range.hi) break
    }
    const client = new NodeClient({node: 'n1', address: a.address(), token: await loadClusterToken(ctx, {create: false}), timeoutMs: 10_000})
    try {
      expect(await client.apply(shard.id, shard.epoch, [{key, version: formatHlc({wall: Date.now(), counter: 0, writer: 'test'}), value: Buffer.from('acknowledged')}])).toMatchObject({applied: 1})
    } finally {
      await client.close()
    }
    await a.stop('test')
    expect((await getNode(ctx, 'n1')).value.dataDirId).toMatch(/.+/)

    // What \`shardctl node cordon n1\` (or node set, or an autopilot marking it draining) of a
    // build before session 32 writes during a rolling upgrade: its NodeSchema has no
    // dataDirId, and zod drops keys a schema does not name.
    const {dataDirId: _, ...olderBuild} = (await getNode(ctx, 'n1')).value
    await ctx.store.put(ctx.keys.node('n1'), JSON.stringify({...olderBuild, state: 'cordoned'}))

    const replaced = newDir()
    const started = await StorageNode.start(ctx, options(replaced)).then(
      (node) => node,
      (err: unknown) => err,
    )
    if (started instanceof StorageNode) {
      // What serving it costs: the only replica of the shard answers without the acknowledged write.
      const reader = new NodeClient({node: 'n1', address: started.address(), token: await loadClusterToken(ctx, {create: false}), timeoutMs: 10_000})
      const got = await reader.get(shard.id, shard.epoch, key).finally(() => reader.close())
      await started.stop('test')
      expect.fail(`n1 served a new data dir while it holds replicas, its record's dataDirId dropped by an older build; the acknowledged write read back as ${got.record ? 'present' : 'absent'}`)
    }
    expect(started).toMatchObject({code: 'BAD_INPUT', message: expect.stringMatching(/not the one node n1 last served from .* holds replicas of 2 shards/)})
    expect(await ctx.store.get(ctx.keys.alive('n1'))).toBeUndefined()
    // Its own dir still serves, and records itself in the record again.
    const again = await StorageNode.start(ctx, options(old))
    expect(again.serving()).toBe(true)
    await again.stop('test')
    expect((await getNode(ctx, 'n1')).value.dataDirId).toMatch(/.+/)
  })
})
