import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {type Move} from '../../../src/model/move.js'
import {keyHash} from '../../../src/model/hash.js'
import {formatHlc} from '../../../src/model/hlc.js'
import {type Shard} from '../../../src/model/shard.js'
import {loadClusterToken} from '../../../src/node/clusterToken.js'
import {NodeClient} from '../../../src/node/nodeClient.js'
import {StorageEngine} from '../../../src/node/storageEngine.js'
import {moveOf} from '../../executor/fixtures.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'
import {waitFor} from '../router/dataPlane.js'
import {type NodeProcess, startNodeProcess} from './nodeProcess.js'

const stores = new StoreSet()
const procs: NodeProcess[] = []
let ctx: ServiceContext
let dir: string
const clients: NodeClient[] = []

function keyIn(shard: Shard, prefix: string): string {
  for (let i = 0; i < 1_000_000; i++) {
    const h = keyHash(`${prefix}-${i}`)
    if (h >= shard.range.lo && h < shard.range.hi) return `${prefix}-${i}`
  }
  throw new Error('no key found')
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'shardctl-orphan-'))
})

afterAll(async () => {
  await Promise.all(clients.map((c) => c.destroy()))
  await Promise.all(procs.map((p) => p.kill()))
  stores.closeAll()
  rmSync(dir, {recursive: true, force: true})
})

describe('a node removes data of ranges it holds no role for', () => {
  it('after --orphan-grace, leftovers in a range of another node are removed and its own data stays', async () => {
    const endpoint = inject('etcdEndpoint')
    const cluster = uniqueCluster('orphan')
    ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
    // Placeholder ports in the records: the node under test starts on port 0 and registers the port it bound.
    await initCluster(ctx, {shards: 12, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:1,n2=127.0.0.1:2,n3=127.0.0.1:3'), force: false})
    const {shards} = await listShards(ctx)
    // The node under test: the one holding shard 0 (rf 1 over 3 nodes: others hold the rest).
    const id = shards[0]!.value.replicas[0]!.node as 'n1' | 'n2' | 'n3'
    const mine = shards.map((s) => s.value).filter((s) => s.replicas.some((r) => r.node === id))
    const others = shards.map((s) => s.value).filter((s) => !s.replicas.some((r) => r.node === id))
    expect(mine.length).toBeGreaterThan(0)
    expect(others.length).toBeGreaterThan(0)
    // Plant data in the node's data dir: 3 leftovers in a range it holds no role for, 2 records of its own shard.
    const engine = StorageEngine.open({dir: join(dir, id), nodeId: id, tombstoneGraceMs: 3_600_000, synchronous: 'FULL'})
    const v = formatHlc({wall: Date.now(), counter: 0, writer: 'test'})
    const leftovers = [0, 1, 2].map((i) => keyIn(others[0]!, `left-${i}`))
    const own = [0, 1].map((i) => keyIn(mine[0]!, `own-${i}`))
    await engine.apply([...leftovers, ...own].map((k) => ({key: Buffer.from(k), value: Buffer.from('x'), version: v})))
    await engine.close()
    const proc = await startNodeProcess({endpoint, cluster, id, port: 0, dataDir: join(dir, id), extra: ['--orphan-grace', '1s']})
    procs.push(proc)
    const client = new NodeClient({node: id, address: proc.address, token: await loadClusterToken(ctx, {create: false}), timeoutMs: 5000})
    clients.push(client)
    expect((await client.stats()).storage.keys).toBe(5) // nothing removed before the grace
    // The node logs the removal once its (yielding) range delete is over.
    await waitFor(async () => (/removed data of a range this node holds no role for/.test(proc.logs()) ? true : undefined), 'the leftovers to be removed', 20_000)
    expect((await client.stats()).storage.keys).toBe(2)
    const s = mine[0]!
    for (const k of own) expect((await client.get(s.id, s.epoch, Buffer.from(k))).record?.value?.toString()).toBe('x')
  }, 60_000)
})

describe('a node keeps a copy an unfinished move may need, though it holds no role for its range', () => {
  it('keeps it past --orphan-grace while the move is unfinished, and removes it a grace after the move ended', async () => {
    const endpoint = inject('etcdEndpoint')
    const cluster = uniqueCluster('orphan-move')
    const mctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
    // Placeholder ports in the records: the node under test starts on port 0 and registers the port it bound.
    await initCluster(mctx, {shards: 12, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:1,n2=127.0.0.1:2,n3=127.0.0.1:3'), force: false})
    const {shards} = await listShards(mctx)
    const id = shards[0]!.value.replicas[0]!.node as 'n1' | 'n2' | 'n3'
    const others = shards.map((s) => s.value).filter((s) => !s.replicas.some((r) => r.node === id)).sort((a, b) => a.id - b.id)
    // kept: the range of an aborted move of which this node was the destination, waiting in `aborting`
    // (its source down at rf 1: destinationCopyKeep) with the destination already removed from the
    // shard: this node's copy may be the only one up of an acknowledged write. Plain leftovers
    // beside it are kept too while such a move runs (a split may have moved part of its range).
    const kept = others[0]!
    const control = others[others.length - 1]!
    const source = kept.replicas[0]!.node
    const move: Move = moveOf({id: 'sweep-keep', shard: kept.id, from: source, to: id, phase: 'aborting', baseEpoch: kept.epoch, epoch: kept.epoch, reason: `move sweep-keep: ${id}'s copy of shard ${kept.id} is kept`})
    await mctx.store.put(mctx.keys.move(move.id), JSON.stringify(move))
    const engine = StorageEngine.open({dir: join(dir, `move-${id}`), nodeId: id, tombstoneGraceMs: 3_600_000, synchronous: 'FULL'})
    const v = formatHlc({wall: Date.now(), counter: 0, writer: 'test'})
    const keptKeys = [0, 1].map((i) => keyIn(kept, `kept-${i}`))
    const controlKeys = [0, 1, 2].map((i) => keyIn(control, `control-${i}`))
    await engine.apply([...keptKeys, ...controlKeys].map((k) => ({key: Buffer.from(k), value: Buffer.from('acked'), version: v})))
    await engine.close()
    const proc = await startNodeProcess({endpoint, cluster, id, port: 0, dataDir: join(dir, `move-${id}`), extra: ['--orphan-grace', '1s']})
    procs.push(proc)
    const client = new NodeClient({node: id, address: proc.address, token: await loadClusterToken(mctx, {create: false}), timeoutMs: 5000})
    clients.push(client)
    // The shards whose data the node logged removing (JSON lines; other output skipped).
    const removedShards = () =>
      proc.logs().split('\n').flatMap((line) => {
        try {
          const o = JSON.parse(line) as {msg?: string; shard?: number}
          return o.msg === 'removed data of a range this node holds no role for' ? [o.shard] : []
        } catch {
          return []
        }
      })
    const removed = (shard: number) => removedShards().includes(shard)
    // The node says it kept the move's copy past the grace (a sweep ran a whole grace after it found it), and it is all there.
    // (Stops waiting at a removal too, so a sweep that removes the copy fails here at once.)
    await waitFor(async () => (/keeping data of a range past --orphan-grace: an unfinished move may need it/.test(proc.logs()) || removedShards().length > 0 ? true : undefined), 'the sweep to keep the copy past the grace', 20_000)
    expect(removedShards()).toEqual([])
    expect((await client.stats()).storage.keys).toBe(5)
    // The move ends (its source came back and the copy is no longer needed): the normal grace applies from then.
    await mctx.store.put(mctx.keys.move(move.id), JSON.stringify({...move, phase: 'aborted'}))
    await waitFor(async () => (removed(kept.id) && removed(control.id) ? true : undefined), "the ended move's copy to be removed", 20_000)
    expect((await client.stats()).storage.keys).toBe(0)
  }, 60_000)
})
