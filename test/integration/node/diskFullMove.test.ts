/**
 * A move (the executor in-process, real etcd, real node processes) onto a destination whose
 * disk fills mid-copy: the copy fails with a line naming the full data dir, the source keeps
 * every record, and the destination's partial copy is never taken for a replica. Freed
 * space lets the retried copy resume from its durable cursor and complete; a move cancelled
 * while the disk stays full drops the partial copy only if the delete fits in the WAL space
 * the failed frame left allocated (a delete needs room too); else the move ends `failed`
 * with that line as its reason, and the destination's orphan sweep removes the partial copy
 * once there is room. The destination's data dir is on a small tmpfs
 * (needs root; skipped with the reason otherwise).
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleepFor} from 'node:timers/promises'
import {describe, expect, inject, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {setNodeState} from '../../../src/cluster/nodeService.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../../src/cluster/snapshotService.js'
import {type ApplyInput, type ApplyResult, executePlan} from '../../../src/executor/executePlan.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEvent} from '../../../src/executor/executorEnv.js'
import {requestCancel} from '../../../src/executor/moveStore.js'
import {freePort} from '../../../src/localEtcd/freePort.js'
import {formatHlc} from '../../../src/model/hlc.js'
import {type Shard} from '../../../src/model/shard.js'
import {loadClusterToken} from '../../../src/node/clusterToken.js'
import {NodeClient} from '../../../src/node/nodeClient.js'
import {type NodeRecord} from '../../../src/node/protocol.js'
import {planRebalance} from '../../../src/planner/planRebalance.js'
import {ExecutorsOfTest} from '../../support/executorAbort.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'
import {waitFor} from '../router/dataPlane.js'
import {type NodeProcess, startNodeProcess} from './nodeProcess.js'
import {isRefusal, mountTmpfs} from './tmpfsDisk.js'

const probe = mountTmpfs('diskfullmove-probe', 1)
const refusal = isRefusal(probe) ? probe.refused : undefined
if (!isRefusal(probe)) probe.unmount()

const executors = new ExecutorsOfTest()
/** BATCHES × 32 records of 16 KiB: 8 MiB on the source, 4 times the room the destination gets. */
const BATCHES = 16
const valueOf = (i: number) => Buffer.alloc(16 * 1024, i % 251)

/** MoveCluster is one test's cluster: shard 0 (rf 1) on `src`, and `dst` (its data dir on a tmpfs with 2 MiB of room) to move it to. */
interface MoveCluster {
  ctx: ServiceContext
  src: string
  dst: string
  client(id: string): NodeClient
  disk: {release(): void}
  dstProc(): NodeProcess
  close(): Promise<void>
}

async function startMoveCluster(label: string): Promise<MoveCluster> {
  const mounted = mountTmpfs(label, 24)
  if (isRefusal(mounted)) throw new Error(mounted.refused)
  const stores = new StoreSet()
  const procs: NodeProcess[] = []
  const clients: NodeClient[] = []
  const dir = mkdtempSync(join(tmpdir(), `shardctl-${label}-`))
  const close = async () => {
    try {
      for (const c of clients) await c.destroy()
      await Promise.all(procs.map((p) => p.kill()))
      stores.closeAll()
      rmSync(dir, {recursive: true, force: true})
    } finally {
      mounted.unmount()
    }
  }
  try {
    const endpoint = inject('etcdEndpoint')
    const cluster = uniqueCluster(label)
    const ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
    const ports: Record<string, number> = {n1: await freePort(), n2: await freePort()}
    await initCluster(ctx, {shards: 1, rf: 1, nodes: parseNodeSpecs(`n1=127.0.0.1:${ports.n1},n2=127.0.0.1:${ports.n2}`), force: false})
    const src = (await listShards(ctx)).shards[0]!.value.replicas[0]!.node
    const dst = src === 'n1' ? 'n2' : 'n1'
    procs.push(await startNodeProcess({endpoint, cluster, id: src, port: ports[src]!, dataDir: join(dir, src)}))
    procs.push(await startNodeProcess({endpoint, cluster, id: dst, port: ports[dst]!, dataDir: mounted.dataDir, extra: ['--orphan-grace', '1s']}))
    const token = await loadClusterToken(ctx, {create: false})
    const client = (id: string) => {
      const c = new NodeClient({node: id, address: `127.0.0.1:${ports[id]}`, token, timeoutMs: 10_000})
      clients.push(c)
      return c
    }
    // Fill the shard on its source, then leave the destination 2 MiB of room.
    const shard = (await listShards(ctx)).shards[0]!.value
    const source = client(src)
    for (let b = 0, n = 0; b < BATCHES; b++) {
      const records: NodeRecord[] = []
      for (let i = 0; i < 32; i++, n++) records.push({key: Buffer.from(`k${n}`), value: valueOf(n), version: formatHlc({wall: Date.now(), counter: n, writer: 'test'})})
      await source.apply(shard.id, shard.epoch, records, 'write')
    }
    mounted.fill(2 * 1024 * 1024)
    return {ctx, src, dst, client, disk: mounted, dstProc: () => procs[1]!, close}
  } catch (err) {
    await close()
    throw err
  }
}

/** drain moves every shard off `mc.src` (to `mc.dst`) with an in-process executor; `onEvent` sees each event as it comes. */
async function drain(mc: MoveCluster, onEvent: (e: ExecutorEvent) => void): Promise<{result: ApplyResult; events: ExecutorEvent[]}> {
  await setNodeState(mc.ctx, mc.src, 'draining')
  const plan = planRebalance(await readSnapshot(mc.ctx), {drainOnly: true}, {id: 'drain', createdAt: new Date().toISOString()})
  const input: ApplyInput = {plan, limits: {maxConcurrent: 1, perNode: 1}, throttle: null, nodeThrottle: null, options: {...DEFAULT_EXECUTOR_OPTIONS, drainTimeoutMs: 2000, barrierTimeoutMs: 15_000}, confirm: async () => true, holder: 'test'}
  const events: ExecutorEvent[] = []
  const emit = (e: ExecutorEvent) => {
    events.push(e)
    onEvent(e)
  }
  const result = await executors.start((stop) => executePlan(mc.ctx, input, {now: () => Date.now(), sleep: (ms, s) => sleepFor(ms, undefined, {signal: s}).catch(() => {}), emit}, stop))
  return {result, events}
}

/** records reads every record `c` holds of `shard` (bounded). */
async function records(c: NodeClient, shard: Shard): Promise<Map<string, Buffer | null>> {
  const out = new Map<string, Buffer | null>()
  let cursor: string | undefined
  for (let i = 0; i < 1000; i++) {
    const chunk = await c.snapshotChunk(shard.id, shard.epoch, {cursor, maxBytes: 1024 * 1024})
    for (const r of chunk.records) out.set(r.key.toString(), r.value)
    cursor = chunk.cursor
    if (!cursor) return out
  }
  throw new Error('snapshot did not finish')
}

/** expectEveryRecord checks that `held` is exactly the records the cluster was filled with. */
function expectEveryRecord(held: Map<string, Buffer | null>): void {
  expect(held.size).toBe(BATCHES * 32)
  for (let n = 0; n < BATCHES * 32; n++) expect(held.get(`k${n}`)?.equals(valueOf(n)), `k${n}`).toBe(true)
}

const FULL_LINE = /out of disk space in data dir \S+: the write was not stored; free space on that disk or move shards off this node/

describe.skipIf(refusal !== undefined)(`a move onto a destination whose disk fills mid-copy${refusal ? ` (skipped: ${refusal})` : ''}`, {timeout: 90_000}, () => {
  it('Given the copy failed for want of room, When space is freed, Then the retried copy resumes and the move completes with every record on the destination', async () => {
    const mc = await startMoveCluster('diskfullmove-freed')
    try {
      let released = false
      const {result, events} = await drain(mc, (e) => {
        if (e.type === 'retry' && e.what === 'copying' && !released) {
          released = true
          mc.disk.release()
        }
      })
      // The copy failed once, saying why in one line, and went on after the space came back.
      const retry = events.find((e) => e.type === 'retry' && e.what === 'copying')
      expect(retry && 'error' in retry ? retry.error : '').toMatch(FULL_LINE)
      expect(result.counts).toEqual({done: 1})
      const {shards} = await listShards(mc.ctx)
      const shard = shards[0]!.value
      expect(shard.replicas).toEqual([{node: mc.dst, role: 'voter'}])
      expectEveryRecord(await records(mc.client(mc.dst), shard))
    } finally {
      await mc.close()
    }
  })

  it('Given the copy failed for want of room, When the move is cancelled while the disk stays full, Then the source keeps every record, the move ends aborted or failed naming the full disk, and no partial copy is left once there is room', async () => {
    const mc = await startMoveCluster('diskfullmove-full')
    try {
      let cancel: Promise<unknown> | undefined
      const {result} = await drain(mc, (e) => {
        if (e.type === 'retry' && e.what === 'copying') cancel ??= requestCancel(mc.ctx, e.move)
      })
      await cancel
      // The destination is out of the shard map again: the source is its only replica, with every record.
      const {shards} = await listShards(mc.ctx)
      const shard = shards[0]!.value
      expect(shard.replicas).toEqual([{node: mc.src, role: 'voter'}])
      expectEveryRecord(await records(mc.client(mc.src), shard))
      // The abort drops the partial copy if the delete fits in the WAL space the failed frame
      // left allocated; when it does not (a delete needs room too), the abort gives up after
      // its attempts and the move fails, naming the full disk in its reason.
      expect(result.moves).toHaveLength(1)
      const move = result.moves[0]!
      expect(['aborted', 'failed']).toContain(move.phase)
      if (move.phase === 'failed') expect(move.reason).toMatch(FULL_LINE)
      expect(move.reason ?? '').not.toContain('internal error')
      // Holding no role, whatever the destination kept serves no one; once there is room the orphan sweep removes it.
      const dst = mc.client(mc.dst)
      expect((await dst.stats()).shards).toEqual([])
      mc.disk.release()
      await waitFor(async () => ((await dst.stats()).storage.keys === 0 ? true : undefined), 'the orphan sweep of the partial copy', 30_000)
      expect(mc.dstProc().gone()).toBe(false)
    } finally {
      await mc.close()
    }
  })
})
