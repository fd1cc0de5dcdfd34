/**
 * Draining a node whose disk is full and that holds no disk reserve (`--disk-reserve 0`; with one the drain completes:
 * test/integration/node/diskReserve.test.ts) (the executor in-process, real etcd, real node
 * processes): the move copies and cuts over (reading needs no room), so every record is on
 * the destination and the full node gets no more writes for the shard; but its cleanup drop
 * on the full source is a write too, refused with the full-disk line and retried (past
 * cutover, without bound), so the drain frees nothing until space is freed on that disk by
 * other means; then the move finishes and the source's copy is gone. The source's data dir
 * is on a small tmpfs (needs root; skipped with the reason otherwise).
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleepFor} from 'node:timers/promises'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {setNodeState} from '../../../src/cluster/nodeService.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../../src/cluster/snapshotService.js'
import {type ApplyInput, executePlan} from '../../../src/executor/executePlan.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEvent} from '../../../src/executor/executorEnv.js'
import {formatHlc} from '../../../src/model/hlc.js'
import {type Shard} from '../../../src/model/shard.js'
import {loadClusterToken} from '../../../src/node/clusterToken.js'
import {NodeClient} from '../../../src/node/nodeClient.js'
import {shardRecords} from './shardRecords.js'
import {type NodeRecord} from '../../../src/node/protocol.js'
import {planRebalance} from '../../../src/planner/planRebalance.js'
import {ExecutorsOfTest} from '../../support/executorAbort.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'
import {type NodeProcess, startNodeProcess} from './nodeProcess.js'
import {isRefusal, mountTmpfs, type TmpfsDisk} from './tmpfsDisk.js'

const mounted = mountTmpfs('diskfulldrain', 24)
const disk: TmpfsDisk | undefined = isRefusal(mounted) ? undefined : mounted
const skipped = isRefusal(mounted) ? ` (skipped: ${mounted.refused})` : ''

const executors = new ExecutorsOfTest()
const stores = new StoreSet()
const procs: NodeProcess[] = []
const clients: NodeClient[] = []
let dir: string | undefined
let ctx: ServiceContext
let src = 'n1'
let dst = 'n2'
let shard: Shard
const ports: Record<string, number> = {}
let token: string

/** 8 batches × 32 records of 16 KiB: 4 MiB on the full source. */
const KEYS = 8 * 32
const valueOf = (i: number) => Buffer.alloc(16 * 1024, i % 251)

function client(id: string): NodeClient {
  const c = new NodeClient({node: id, address: `127.0.0.1:${ports[id]}`, token, timeoutMs: 10_000})
  clients.push(c)
  return c
}

beforeAll(async () => {
  if (!disk) return
  const endpoint = inject('etcdEndpoint')
  const cluster = uniqueCluster('diskfulldrain')
  ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
  dir = mkdtempSync(join(tmpdir(), 'shardctl-diskfulldrain-'))
  // Placeholder ports in the records: each node starts on port 0 and registers the port it bound (recorded in ports).
  await initCluster(ctx, {shards: 1, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:1,n2=127.0.0.1:2'), force: false})
  shard = (await listShards(ctx)).shards[0]!.value
  src = shard.replicas[0]!.node
  dst = src === 'n1' ? 'n2' : 'n1'
  // Without a disk reserve: what a full node does when it has none to give up (with one, test/integration/node/diskReserve.test.ts).
  const started = async (id: string, dataDir: string, extra: string[] = []) => {
    const p = await startNodeProcess({endpoint, cluster, id, port: 0, dataDir, extra})
    procs.push(p)
    ports[id] = Number(p.address.slice(p.address.lastIndexOf(':') + 1))
  }
  await started(src, disk.dataDir, ['--disk-reserve', '0'])
  await started(dst, join(dir, dst))
  token = await loadClusterToken(ctx, {create: false})
  const source = client(src)
  for (let n = 0; n < KEYS; ) {
    const records: NodeRecord[] = []
    for (let i = 0; i < 32; i++, n++) records.push({key: Buffer.from(`k${n}`), value: valueOf(n), version: formatHlc({wall: Date.now(), counter: n, writer: 'test'})})
    await source.apply(shard.id, shard.epoch, records, 'write')
  }
  // No room at all, and none left in the WAL either: small writes until one is refused.
  disk.fill(0)
  for (let i = 0; i < 10_000; i++) {
    const record = {key: Buffer.from(`small-${i}`), value: Buffer.alloc(100, 1), version: formatHlc({wall: Date.now(), counter: i, writer: 'small'})}
    if (!(await source.apply(shard.id, shard.epoch, [record], 'write').then(() => true, () => false))) return
  }
  throw new Error('the source took 10,000 writes on a full disk')
}, 120_000)

afterAll(async () => {
  try {
    for (const c of clients) await c.destroy()
    await Promise.all(procs.map((p) => p.kill()))
    stores.closeAll()
    if (dir) rmSync(dir, {recursive: true, force: true})
  } finally {
    disk?.unmount()
  }
})


describe.skipIf(!disk)(`draining a node whose disk is full${skipped}`, {timeout: 90_000}, () => {
  it('Given a full source, When it is drained, Then the move cuts over with every record on the destination, its cleanup drop is refused with the full-disk line until space is freed, and then the move finishes and the source copy is gone', async () => {
    await setNodeState(ctx, src, 'draining')
    const plan = planRebalance(await readSnapshot(ctx), {drainOnly: true}, {id: 'drain', createdAt: new Date().toISOString()})
    const input: ApplyInput = {plan, limits: {maxConcurrent: 1, perNode: 1}, throttle: null, nodeThrottle: null, options: {...DEFAULT_EXECUTOR_OPTIONS, drainTimeoutMs: 2000, barrierTimeoutMs: 15_000}, confirm: async () => true, holder: 'test'}
    let refusal: string | undefined
    let atRefusal: Promise<Shard> | undefined
    const emit = (e: ExecutorEvent) => {
      if (e.type !== 'retry' || e.what !== 'cleanup' || refusal !== undefined) return
      refusal = e.error
      // What the map and the destination hold while the drop waits for room; then free it.
      atRefusal = listShards(ctx).then(async ({shards}) => {
        const s = shards[0]!.value
        const held = await shardRecords(client(dst), s)
        expect(held.size).toBe(KEYS + [...held.keys()].filter((k) => k.startsWith('small-')).length)
        for (let n = 0; n < KEYS; n++) expect(held.get(`k${n}`)?.equals(valueOf(n)), `k${n}`).toBe(true)
        disk!.release()
        return s
      })
    }
    const result = await executors.start((stop) => executePlan(ctx, input, {now: () => Date.now(), sleep: (ms, s) => sleepFor(ms, undefined, {signal: s}).catch(() => {}), emit}, stop))
    // The drop on the full source was refused, in one line naming its disk (before: "node nX: internal error").
    expect(refusal).toMatch(/out of disk space in data dir \S+: the write was not stored; free space on that disk \(deletes and drops need room too\)/)
    const during = await atRefusal!
    expect(during.replicas).toEqual(expect.arrayContaining([{node: dst, role: 'voter'}]))
    expect(during.replicas.find((r) => r.node === src)?.role).not.toBe('voter')
    // Once there was room, the move finished and the source dropped its copy.
    expect(result.counts).toEqual({done: 1})
    const {shards} = await listShards(ctx)
    expect(shards[0]!.value.replicas).toEqual([{node: dst, role: 'voter'}])
    expect((await client(src).stats()).storage.keys).toBe(0)
    // The source logged its disk filling once (the drop's retries list their rows fine, which is no write), and room coming back.
    const logs = procs[0]!.logs()
    expect(logs.match(/storage full: out of disk space/g)).toHaveLength(1)
    expect(logs).toContain('storage has room again: writes commit')
  })
})
