import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {getMeta, getNode} from '../../../src/cluster/clusterRepo.js'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {freePort} from '../../../src/localEtcd/freePort.js'
import {NodeSchema} from '../../../src/model/node.js'
import {type NodeLog} from '../../../src/node/nodeLog.js'
import {StorageNode, type StorageNodeOptions} from '../../../src/node/storageNode.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'

const stores = new StoreSet()
const dirs: string[] = []
const quiet: NodeLog = {info: () => {}, warn: () => {}, error: () => {}}
let ctx: ServiceContext
let port: number

const options = (dataDir: string): StorageNodeOptions => ({
  id: 'n1',
  listenHost: '127.0.0.1',
  listenPort: port,
  dataDir,
  statsIntervalMs: 60_000,
  leaseTtlSeconds: 5,
  tombstoneGraceMs: 60_000,
  shutdownTimeoutMs: 1000,
  synchronous: 'NORMAL',
  log: quiet,
})
const init = (force: boolean) => initCluster(ctx, {shards: 2, rf: 1, nodes: parseNodeSpecs(`n1=127.0.0.1:${port}`), force})
const newDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'shardctl-identity-'))
  dirs.push(d)
  return d
}

beforeAll(async () => {
  const cluster = uniqueCluster('identity')
  ctx = makeServiceContext(stores.open(inject('etcdEndpoint'), cluster), {cluster})
  port = await freePort()
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
    // As a build before session 32 left it: no dataDirId.
    const {dataDirId: _, ...before} = (await getNode(ctx, 'n1')).value
    await ctx.store.put(ctx.keys.node('n1'), JSON.stringify(NodeSchema.parse(before)))

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
