/**
 * Without a disk reserve (`--disk-reserve 0` on the destination; with one the abort completes
 * on the full disk: test/integration/node/diskReserve.test.ts):
 * a move (the executor in-process, real etcd, real node processes) onto a destination whose
 * disk fills mid-copy: the copy fails with a line naming the full data dir, the source keeps
 * every record, and the destination's partial copy is never taken for a replica. Freed
 * space lets the retried copy resume from its durable cursor and complete; a move cancelled
 * while the disk stays full cannot drop the partial copy (a delete needs room too, once the
 * WAL space a failed frame left allocated is used up): its drop is refused with that line
 * (left so, after 8 attempts the move ends `failed` with it as its reason, and the orphan
 * sweep removes the partial copy once there is room), while the shard map is back on the
 * source; resumed once there is room, the abort drops the partial copy. The destination's data dir is on a small tmpfs
 * (needs root; skipped with the reason otherwise).
 */
import {setTimeout as sleepFor} from 'node:timers/promises'
import {describe, expect, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {setNodeState} from '../../../src/cluster/nodeService.js'
import {type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../../src/cluster/snapshotService.js'
import {type ApplyInput, type ApplyResult, executePlan} from '../../../src/executor/executePlan.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEvent} from '../../../src/executor/executorEnv.js'
import {requestCancel} from '../../../src/executor/moveStore.js'
import {formatHlc} from '../../../src/model/hlc.js'
import {type Plan} from '../../../src/model/plan.js'
import {NodeClient} from '../../../src/node/nodeClient.js'
import {shardRecords} from './shardRecords.js'
import {type NodeRecord} from '../../../src/node/protocol.js'
import {planRebalance} from '../../../src/planner/planRebalance.js'
import {ExecutorsOfTest} from '../../support/executorAbort.js'
import {waitFor} from '../router/dataPlane.js'
import {type NodeProcess} from './nodeProcess.js'
import {isRefusal, mountTmpfs} from './tmpfsDisk.js'
import {startTmpfsPair} from './tmpfsPair.js'

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
  const pair = await startTmpfsPair(label, 'dst', ['--orphan-grace', '1s', '--disk-reserve', '0'])
  try {
    // Fill the shard on its source, then leave the destination 2 MiB of room.
    const shard = (await listShards(pair.ctx)).shards[0]!.value
    const source = pair.client(pair.src)
    for (let b = 0, n = 0; b < BATCHES; b++) {
      const records: NodeRecord[] = []
      for (let i = 0; i < 32; i++, n++) records.push({key: Buffer.from(`k${n}`), value: valueOf(n), version: formatHlc({wall: Date.now(), counter: n, writer: 'test'})})
      await source.apply(shard.id, shard.epoch, records, 'write')
    }
    pair.disk.fill(2 * 1024 * 1024)
    return {...pair, dstProc: () => pair.proc(pair.dst)}
  } catch (err) {
    await pair.close()
    throw err
  }
}

/** drain moves every shard off `mc.src` (to `mc.dst`) with an in-process executor; `onEvent` sees each event as it comes. */
async function drain(mc: MoveCluster, onEvent: (e: ExecutorEvent) => void, signal?: AbortSignal): Promise<{result: ApplyResult; events: ExecutorEvent[]}> {
  await setNodeState(mc.ctx, mc.src, 'draining')
  const plan = planRebalance(await readSnapshot(mc.ctx), {drainOnly: true}, {id: 'drain', createdAt: new Date().toISOString()})
  return execute(mc, plan, onEvent, signal)
}

/** execute runs `plan` (undefined: resumes the unfinished moves) with an in-process executor until it ends or `signal` aborts. */
async function execute(mc: MoveCluster, plan: Plan | undefined, onEvent: (e: ExecutorEvent) => void, signal?: AbortSignal): Promise<{result: ApplyResult; events: ExecutorEvent[]}> {
  const input: ApplyInput = {plan, limits: {maxConcurrent: 1, perNode: 1}, throttle: null, nodeThrottle: null, options: {...DEFAULT_EXECUTOR_OPTIONS, drainTimeoutMs: 2000, barrierTimeoutMs: 15_000}, confirm: async () => true, holder: 'test'}
  const events: ExecutorEvent[] = []
  const emit = (e: ExecutorEvent) => {
    events.push(e)
    onEvent(e)
  }
  const result = await executors.start((stop) => executePlan(mc.ctx, input, {now: () => Date.now(), sleep: (ms, s) => sleepFor(ms, undefined, {signal: s}).catch(() => {}), emit}, stop), signal)
  return {result, events}
}

/**
 * fillWalSlack writes small records to the joining destination until it refuses one: a
 * copy frame that found no room leaves the WAL file longer than its last commit, and
 * commits reuse that space, so until it is used up a small delete (the abort's drop)
 * may still fit. Returns how many it wrote (bounded). Their keys are no client's: the
 * source never had them, and they go with the partial copy.
 */
async function fillWalSlack(mc: MoveCluster): Promise<number> {
  const shard = (await listShards(mc.ctx)).shards[0]!.value
  const dst = mc.client(mc.dst)
  for (let i = 0; i < 10_000; i++) {
    const record = {key: Buffer.from(`slack-${i}`), value: Buffer.alloc(100, 1), version: formatHlc({wall: Date.now(), counter: i, writer: 'slack'})}
    const refused = await dst.apply(shard.id, shard.epoch, [record], 'write').then(
      () => false,
      () => true,
    )
    if (refused) return i
  }
  throw new Error('the destination took 10,000 writes on a full disk')
}


/**
 * expectEveryRecord checks that `held` is exactly the records the cluster was filled with, beside the `slack-` writes
 * fillWalSlack had the destination acknowledge: since session 40 an abort with the source up on a dir no comparison
 * recorded repairs the source from the destination's copy before dropping it (moveMachine.ts dropKeptCopy), so at rf 1
 * the source takes those too (the node acknowledged them; it cannot tell them from a client's).
 */
function expectEveryRecord(all: Map<string, Buffer | null>): void {
  const held = new Map([...all].filter(([k]) => !k.startsWith('slack-')))
  expect(held.size).toBe(BATCHES * 32)
  for (let n = 0; n < BATCHES * 32; n++) expect(held.get(`k${n}`)?.equals(valueOf(n)), `k${n}`).toBe(true)
}

const FULL_LINE = /out of disk space in data dir \S+: the write was not stored; free space on that disk \(deletes and drops need room too\); writes resume by themselves once there is room/

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
      expectEveryRecord(await shardRecords(mc.client(mc.dst), shard))
    } finally {
      await mc.close()
    }
  })

  it('Given the copy failed for want of room, When the move is cancelled while the disk stays full, Then the source keeps every record, the abort retries its drop naming the full disk, and once space is freed the resumed abort drops the partial copy', async () => {
    const mc = await startMoveCluster('diskfullmove-full')
    try {
      let cancel: Promise<unknown> | undefined
      let abortRefusal: string | undefined
      const stop = new AbortController()
      const first = await drain(
        mc,
        (e) => {
          if (e.type === 'retry' && e.what === 'copying') cancel ??= fillWalSlack(mc).then(() => requestCancel(mc.ctx, e.move))
          if (e.type === 'retry' && e.what === 'aborting' && abortRefusal === undefined) {
            abortRefusal = e.error
            stop.abort()
          }
        },
        stop.signal,
      )
      await cancel
      // The abort's drop found no room (a delete needs room too), and said so in one line (before: "node nX: internal error").
      expect(abortRefusal).toMatch(FULL_LINE)
      expect(first.result.moves[0]).toMatchObject({phase: 'aborting'})
      // The destination is out of the shard map already: the source is the only replica, with every record.
      const {shards} = await listShards(mc.ctx)
      const shard = shards[0]!.value
      expect(shard.replicas).toEqual([{node: mc.src, role: 'voter'}])
      expectEveryRecord(await shardRecords(mc.client(mc.src), shard))
      // Holding no role, the partial copy serves no one.
      const dst = mc.client(mc.dst)
      expect((await dst.stats()).shards).toEqual([])
      expect((await dst.stats()).storage.keys).toBeGreaterThan(0)
      // Once there is room, the resumed abort drops it (or the orphan sweep got there first).
      mc.disk.release()
      const resumed = await execute(mc, undefined, () => {})
      expect(resumed.result.moves[0]).toMatchObject({phase: 'aborted'})
      await waitFor(async () => ((await dst.stats()).storage.keys === 0 ? true : undefined), 'the partial copy to be dropped', 30_000)
      expectEveryRecord(await shardRecords(mc.client(mc.src), shard))
      expect(mc.dstProc().gone()).toBe(false)
    } finally {
      await mc.close()
    }
  })
})
