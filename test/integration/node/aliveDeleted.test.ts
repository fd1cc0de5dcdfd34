import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, afterEach, describe, expect, inject, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../../src/cluster/serviceContext.js'
import {awaitBarrier} from '../../../src/executor/barrier.js'
import {syncReplicas} from '../../../src/executor/replicaSync.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEnv} from '../../../src/executor/executorEnv.js'
import {freePort} from '../../../src/localEtcd/freePort.js'
import {keyHash} from '../../../src/model/hash.js'
import {formatHlc} from '../../../src/model/hlc.js'
import {type Replica, type Shard} from '../../../src/model/shard.js'
import {loadClusterToken} from '../../../src/node/clusterToken.js'
import {NodeClient} from '../../../src/node/nodeClient.js'
import {type NodeLog} from '../../../src/node/nodeLog.js'
import {type RangeWriteGate} from '../../../src/node/orphanSweeper.js'
import {StorageNode, type StorageNodeOptions} from '../../../src/node/storageNode.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'

/**
 * `alive/<id>` deleted under a lease the node still holds (`etcdctl del alive/<id>`): the
 * executor's barrier skips a node without it (docs/moves.md), so a node that serves on takes
 * writes at an epoch a move counted every live replica past. Here, at rf 1, on real etcd with
 * in-process nodes (each its own etcd client, as two processes) and the executor's own barrier
 * and verification: a write to the source at the joining epoch, admitted (past its fence)
 * before the promotion and held before its commit (an orphan sweep's range gate), commits
 * after the promotion's barrier skipped the source and after the verification compared both
 * sides equal: acknowledged on the source alone, lost at the cutover.
 *
 * Can fail: before the fix (session 39: a serving node ignored a delete of its own alive/<id>)
 * the write was acknowledged, the verification equal and the destination held nothing after the
 * cutover ("acknowledged; verification equal; destination holds nothing"). With it the node
 * stops serving as soon as its watch sees the delete: the verification waits (NOT_SERVING), the
 * write is answered NOT_SERVING, and the node re-registers once it finished (the verification
 * then carries it over). The one window left is the watch's delay (a barrier and a digest read
 * between the delete and the node seeing it): the test waits for the node to see it, bounded.
 */

const stores = new StoreSet()
const dirs: string[] = []
const nodes: StorageNode[] = []
const clients: NodeClient[] = []
const quiet: NodeLog = {info: () => {}, warn: () => {}, error: () => {}}

afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop('test').catch(() => {})))
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})))
  for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
})
afterAll(() => stores.closeAll())

function newDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'shardctl-alive-del-'))
  dirs.push(d)
  return d
}

function keyIn(shard: Shard, prefix: string): Buffer {
  for (let i = 0; ; i++) {
    const key = Buffer.from(`${prefix}-${i}`)
    const h = keyHash(key)
    if (h >= shard.range.lo && h < shard.range.hi) return key
  }
}

/** until polls `done` every 10 ms for at most `ms`: whether it came true (`what` names it for the reader). */
async function until(_what: string, done: () => boolean, ms = 20_000): Promise<boolean> {
  for (const end = Date.now() + ms; !done(); await new Promise((r) => setTimeout(r, 10))) {
    if (Date.now() > end) return false
  }
  return true
}

/** World: a 2-node cluster of one shard at rf 1 on real etcd, moving from n1 to n2, with the executor's steps as plain functions. */
async function world() {
  const endpoint = inject('etcdEndpoint')
  const cluster = uniqueCluster('alive-del')
  const ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
  const ports = {n1: await freePort(), n2: await freePort()}
  await initCluster(ctx, {shards: 1, rf: 1, nodes: parseNodeSpecs(`n1=127.0.0.1:${ports.n1},n2=127.0.0.1:${ports.n2}`), force: false})
  const options = (id: 'n1' | 'n2'): StorageNodeOptions => ({id, listenHost: '127.0.0.1', listenPort: ports[id], dataDir: newDir(), statsIntervalMs: 60_000, leaseTtlSeconds: 5, tombstoneGraceMs: 60_000, shutdownTimeoutMs: 1000, synchronous: 'NORMAL', log: quiet})
  const start = async (id: 'n1' | 'n2'): Promise<StorageNode> => {
    const node = await StorageNode.start(makeServiceContext(stores.open(endpoint, cluster), {cluster}), options(id))
    nodes.push(node)
    return node
  }
  const token = await loadClusterToken(ctx)
  const client = (id: 'n1' | 'n2') => {
    const c = new NodeClient({node: id, address: `127.0.0.1:${ports[id]}`, token, timeoutMs: 10_000})
    clients.push(c)
    return c
  }
  const n1 = client('n1')
  const n2 = client('n2')
  const env = {ctx, client: async (id: string) => (id === 'n1' ? n1 : n2), options: {...DEFAULT_EXECUTOR_OPTIONS, barrierTimeoutMs: 10_000}, now: Date.now, sleep: (ms: number) => new Promise((r) => setTimeout(r, ms)), stopped: () => false} as unknown as ExecutorEnv
  /** step commits the shard at the next epoch with `replicas` and passes its barrier, as the executor does; returns the shard and whether n1 was alive after. */
  const step = async (replicas: Replica[]): Promise<{shard: Shard; n1Alive: boolean}> => {
    const cur = (await listShards(ctx)).shards[0]!
    const shard: Shard = {...cur.value, epoch: cur.value.epoch + 1, replicas}
    const revision = await ctx.store.update(ctx.keys.shard(shard.id), JSON.stringify(shard), cur.modRevision)
    await awaitBarrier(env, shard, revision, ['n1', 'n2'])
    return {shard, n1Alive: (await ctx.store.get(ctx.keys.alive('n1'))) !== undefined}
  }
  return {ctx, start, n1, n2, step}
}

describe('a node whose alive/<id> is deleted under its live lease', () => {
  it('Given the source of a move (rf 1) at the joining epoch with a write past its fence and held before its commit, When alive/<id> is deleted (etcdctl del), the promotion passes its barrier without the source and the verification compares both sides, Then the write is not acknowledged on the source alone (else lost at the cutover)', async () => {
    const w = await world()
    const n1 = await w.start('n1')
    await w.start('n2')
    const joining = (await w.step([{node: 'n1', role: 'voter'}, {node: 'n2', role: 'learning'}])).shard
    const key = keyIn(joining, 'alive-del')
    const since = Date.now()
    const api = (n1 as unknown as {api: {deps: {rangeGate: RangeWriteGate}; writes: {open: Set<{range?: unknown}>}}}).api
    let openGate!: () => void
    const sweep = api.deps.rangeGate.during(joining.range, () => new Promise<void>((r) => (openGate = r)))

    // A client write at the joining epoch (acknowledged by n1 alone there), admitted and held before its commit.
    let answered: string | undefined
    const write = w.n1
      .apply(joining.id, joining.epoch, [{key, version: formatHlc({wall: Date.now(), counter: 0, writer: 'test'}), value: Buffer.from('w')}])
      .then(
        () => 'acknowledged',
        (err: {code?: string}) => err.code ?? String(err),
      )
    void write.then((a) => (answered = a))
    expect(await until('the write was admitted past its fence', () => answered !== undefined || [...api.writes.open].some((e) => e.range !== undefined))).toBe(true)
    expect(answered).toBeUndefined()

    // An operator deletes alive/n1; n1's lease lives on. Bounded wait for n1 to see it (a build before the fix never stops serving).
    await w.ctx.store.delete(w.ctx.keys.alive('n1'))
    await until('n1 saw its alive key deleted', () => !n1.serving(), 2000)

    // The promotion (from here a write needs the destination too) passes its barrier without n1.
    const promoted = await w.step([{node: 'n1', role: 'voter'}, {node: 'n2', role: 'joining'}])
    expect(promoted.n1Alive).toBe(false)

    // The verification while the write is held: equal (it has not committed), or refused while n1 does not serve.
    const first = await syncReplicas(w.n2, w.n1, joining.id, promoted.shard.epoch, since).then(
      (r) => (r.equal ? 'equal' : 'repaired'),
      (err: {code?: string}) => err.code ?? String(err),
    )
    openGate()
    await sweep
    const outcome = await write
    // A verification that could not run runs again once n1 serves (the executor retries it).
    if (first !== 'equal' && first !== 'repaired') {
      expect(await until('n1 serves again', () => n1.serving())).toBe(true)
      await syncReplicas(w.n2, w.n1, joining.id, promoted.shard.epoch, since)
    }
    // The cutover: reads go to the destination alone.
    const cutover = (await w.step([{node: 'n2', role: 'voter'}, {node: 'n1', role: 'outgoing'}])).shard
    const onDestination = (await w.n2.get(cutover.id, cutover.epoch, key)).record?.value?.toString()
    expect(`${outcome}; verification ${first}; destination holds ${onDestination ?? 'nothing'}`).not.toMatch(/^acknowledged; .*destination holds nothing$/)
    expect(outcome).toBe('NOT_SERVING')
    // And n1 registered again: serving, alive/n1 back.
    expect(await until('n1 serves again', () => n1.serving())).toBe(true)
    expect(await w.ctx.store.get(w.ctx.keys.alive('n1'))).toBeDefined()
  }, 60_000)
})
