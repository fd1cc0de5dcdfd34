/**
 * The node's disk reserve (src/node/diskReserve.ts) on real processes, real etcd and a
 * small tmpfs (needs root; skipped with the reason otherwise): a node whose disk is full
 * gives its reserve up so that the operations that free space finish (the cleanup drop of a
 * drain, the drop of an aborted move), never for a client write, and makes it again once
 * there is room. Without a reserve (`--disk-reserve 0`) both waited for an operator to free
 * space: test/integration/node/diskFullDrain.test.ts and diskFullMove.test.ts.
 */
import {setTimeout as sleepFor} from 'node:timers/promises'
import {describe, expect, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {setNodeState} from '../../../src/cluster/nodeService.js'
import {readSnapshot} from '../../../src/cluster/snapshotService.js'
import {type ApplyInput, type ApplyResult, executePlan} from '../../../src/executor/executePlan.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEvent} from '../../../src/executor/executorEnv.js'
import {requestCancel} from '../../../src/executor/moveStore.js'
import {formatHlc} from '../../../src/model/hlc.js'
import {NodeClient} from '../../../src/node/nodeClient.js'
import {type NodeRecord} from '../../../src/node/protocol.js'
import {planRebalance} from '../../../src/planner/planRebalance.js'
import {dataPlaneFetch} from '../../support/dataPlaneFetch.js'
import {ExecutorsOfTest} from '../../support/executorAbort.js'
import {kv, waitFor} from '../router/dataPlane.js'
import {shardRecords} from './shardRecords.js'
import {isRefusal, mountTmpfs} from './tmpfsDisk.js'
import {startTmpfsPair, type TmpfsPair} from './tmpfsPair.js'

const probe = mountTmpfs('diskreserve-probe', 1)
const refusal = isRefusal(probe) ? probe.refused : undefined
if (!isRefusal(probe)) probe.unmount()

const executors = new ExecutorsOfTest()
const MiB = 1024 * 1024
const RESERVE = 2 * MiB
const valueOf = (i: number) => Buffer.alloc(16 * 1024, i % 251)
const FULL_LINE = /out of disk space in data dir \S+: the write was not stored/

/** ReserveCluster: shard 0 (rf 1) on `src`, and `dst`; the node named `onDisk` has its data dir on a 24 MiB tmpfs and a 2 MiB reserve. */
type ReserveCluster = TmpfsPair

function startCluster(label: string, onDisk: 'src' | 'dst'): Promise<ReserveCluster> {
  return startTmpfsPair(label, onDisk, ['--disk-reserve', `${RESERVE}`, '--orphan-grace', '1s'])
}

/** execute drains `rc.src` (plan undefined: resumes the unfinished moves) with an in-process executor until it ends or `signal` aborts. */
async function execute(rc: ReserveCluster, onEvent: (e: ExecutorEvent) => void, signal?: AbortSignal): Promise<ApplyResult> {
  await setNodeState(rc.ctx, rc.src, 'draining')
  const plan = planRebalance(await readSnapshot(rc.ctx), {drainOnly: true}, {id: 'drain', createdAt: new Date().toISOString()})
  const input: ApplyInput = {plan, limits: {maxConcurrent: 1, perNode: 1}, throttle: null, nodeThrottle: null, options: {...DEFAULT_EXECUTOR_OPTIONS, drainTimeoutMs: 2000, barrierTimeoutMs: 15_000}, confirm: async () => true, holder: 'test'}
  return executors.start((stop) => executePlan(rc.ctx, input, {now: () => Date.now(), sleep: (ms, s) => sleepFor(ms, undefined, {signal: s}).catch(() => {}), emit: onEvent}, stop), signal)
}

/** reserveOf is the node's reserve as `/v1/stats` reports it. */
async function reserveOf(c: NodeClient): Promise<{held: number; target: number} | undefined> {
  return (await c.stats()).storage.reserve
}

/** reserveGauge reads `shardctl_node_disk_reserve_bytes` from the node's `/metrics`. */
async function reserveGauge(address: string): Promise<number> {
  const res = await dataPlaneFetch(address, '/metrics', {signal: AbortSignal.timeout(10_000)})
  const m = /^shardctl_node_disk_reserve_bytes (\d+)$/m.exec(await res.text())
  if (!m) throw new Error('no shardctl_node_disk_reserve_bytes in /metrics')
  return Number(m[1])
}

describe.skipIf(refusal !== undefined)(`the disk reserve of a node whose disk is full${refusal ? ` (skipped: ${refusal})` : ''}`, {timeout: 150_000}, () => {
  it('Given a full source holding its reserve, When client writes are refused and it is drained, Then writes get the 503 without taking the reserve, the drain completes (the reserve given up for the cleanup drop), every acknowledged write reads back through the router, and the reserve comes back once there is room', async () => {
    const rc = await startCluster('diskreserve-drain', 'src')
    try {
      const source = rc.client(rc.src)
      const address = rc.proc(rc.src).address!
      expect(await reserveOf(source)).toEqual({held: RESERVE, target: RESERVE})
      expect(await reserveGauge(address)).toBe(RESERVE)
      const r = await rc.router()
      const acked = new Map<string, Buffer>()
      // One write per commit: each 16 KiB value costs about 80 KiB of WAL (its pages, the index, the digest cells), so 64 leave most of the disk to fill.
      for (let n = 0; n < 64; n++) {
        const res = await kv(r.address!, 'PUT', `k${n}`, valueOf(n))
        expect(res.status, `PUT k${n}: ${res.body.toString()}`).toBe(204)
        acked.set(`k${n}`, valueOf(n))
      }
      // Fill the disk, then write until a write is refused: the reserve is not spent on client writes.
      rc.disk.fill(0)
      let refused: {status: number; body: string} | undefined
      for (let i = 0; i < 10_000 && !refused; i++) {
        const value = Buffer.alloc(100, 1)
        const res = await kv(r.address!, 'PUT', `small-${i}`, value)
        if (res.status === 204) acked.set(`small-${i}`, value)
        else refused = {status: res.status, body: res.body.toString()}
      }
      expect(refused?.status).toBe(503)
      expect(refused?.body).toMatch(FULL_LINE)
      // A write straight to the node: the same one-line 503, and the reserve is still whole.
      const shard = (await listShards(rc.ctx)).shards[0]!.value
      const direct = await source.apply(shard.id, shard.epoch, [{key: Buffer.from('direct'), value: Buffer.alloc(100, 2), version: formatHlc({wall: Date.now(), counter: 0, writer: 'test'})}], 'write').then(() => undefined, (err: Error & {status?: number}) => err)
      expect(direct?.status).toBe(503)
      expect(direct?.message).toMatch(FULL_LINE)
      expect(await reserveOf(source)).toEqual({held: RESERVE, target: RESERVE})
      expect(await reserveGauge(address)).toBe(RESERVE)

      // Drain: bounded, so the code before the reserve (cleanup retried without end) fails here instead of hanging.
      const stop = new AbortController()
      let cleanupRetries = 0
      const result = await execute(rc, (e) => {
        if (e.type === 'retry' && e.what === 'cleanup' && ++cleanupRetries > 3) stop.abort()
      }, stop.signal)
      expect(result.counts, `cleanup retried ${cleanupRetries} times`).toEqual({done: 1})
      const after = (await listShards(rc.ctx)).shards[0]!.value
      expect(after.replicas).toEqual([{node: rc.dst, role: 'voter'}])
      expect((await source.stats()).storage.keys).toBe(0)
      const logs = rc.proc(rc.src).logs()
      expect(logs.match(/disk reserve released: 2\.0 MiB given up in \S+ so that a shard data drop can finish on a full disk/g)).toHaveLength(1)
      // Nothing acknowledged is lost: every acked write reads back through the router, from the destination.
      const held = await shardRecords(rc.client(rc.dst), after)
      for (const [k, v] of acked) {
        expect(held.get(k)?.equals(v), `${k} on the destination`).toBe(true)
        const got = await kv(r.address!, 'GET', k)
        expect(got.status, `GET ${k}`).toBe(200)
        expect(got.body.equals(v), `GET ${k}`).toBe(true)
      }
      // The drop freed pages inside the database file (its freelist) and the WAL keeps its length: the file system is still full, so no reserve yet.
      expect((await reserveOf(source))?.held).toBe(0)
      expect(await reserveGauge(address)).toBe(0)
      // Once an operator frees space, the node makes its reserve again by itself.
      rc.disk.release()
      await waitFor(async () => ((await reserveOf(source))?.held === RESERVE ? true : undefined), 'the reserve to come back', 30_000)
      expect(await reserveGauge(address)).toBe(RESERVE)
      expect(rc.proc(rc.src).logs()).toMatch(/disk reserve: holding 2\.0 MiB in [^\n]*\n[\s\S]*disk reserve released[\s\S]*disk reserve: holding 2\.0 MiB in /)
    } finally {
      await rc.close()
    }
  })

  it('Given a move onto a destination whose disk filled mid-copy, When it is cancelled while the disk stays full, Then the abort completes: the destination gives its reserve up to drop the partial copy, and the source keeps every record', async () => {
    const rc = await startCluster('diskreserve-abort', 'dst')
    try {
      // 8 MiB on the source, 2 MiB of room (besides the reserve) on the destination.
      const shard = (await listShards(rc.ctx)).shards[0]!.value
      const source = rc.client(rc.src)
      for (let b = 0, n = 0; b < 16; b++) {
        const records: NodeRecord[] = []
        for (let i = 0; i < 32; i++, n++) records.push({key: Buffer.from(`k${n}`), value: valueOf(n), version: formatHlc({wall: Date.now(), counter: n, writer: 'test'})})
        await source.apply(shard.id, shard.epoch, records, 'write')
      }
      rc.disk.fill(2 * MiB)
      const dst = rc.client(rc.dst)
      let cancel: Promise<unknown> | undefined
      let copyRefusal: string | undefined
      const result = await execute(rc, (e) => {
        if (e.type !== 'retry' || e.what !== 'copying' || cancel) return
        copyRefusal = e.error
        // Use up any room the failed frame left in the WAL, so the drop really meets a full disk.
        cancel = (async () => {
          const joining = (await listShards(rc.ctx)).shards[0]!.value
          for (let i = 0; ; i++) {
            if (i === 10_000) throw new Error('the destination took 10,000 writes on a full disk')
            const record = {key: Buffer.from(`slack-${i}`), value: Buffer.alloc(100, 1), version: formatHlc({wall: Date.now(), counter: i, writer: 'slack'})}
            const err = await dst.apply(joining.id, joining.epoch, [record], 'write').then(() => undefined, (err: Error) => err)
            if (err) {
              expect(err.message).toMatch(FULL_LINE)
              break
            }
          }
          await requestCancel(rc.ctx, e.move)
        })()
      })
      await cancel
      expect(copyRefusal).toMatch(FULL_LINE)
      expect(result.moves[0]).toMatchObject({phase: 'aborted'})
      const now = (await listShards(rc.ctx)).shards[0]!.value
      expect(now.replicas).toEqual([{node: rc.src, role: 'voter'}])
      // Beside the `slack-` writes the destination acknowledged: since session 40 an abort with the source up on a dir no
      // comparison recorded repairs the source from the destination's copy before dropping it (moveMachine.ts dropKeptCopy).
      const kept = new Map([...(await shardRecords(source, now))].filter(([k]) => !k.startsWith('slack-')))
      expect(kept.size).toBe(16 * 32)
      for (let n = 0; n < 16 * 32; n++) expect(kept.get(`k${n}`)?.equals(valueOf(n)), `k${n}`).toBe(true)
      // The disk is still full, and the partial copy is gone.
      expect((await dst.stats()).storage.keys).toBe(0)
      expect(rc.proc(rc.dst).logs()).toMatch(/disk reserve released: 2\.0 MiB given up in \S+ so that a (shard data drop|copy state removal) can finish on a full disk/)
      expect((await reserveOf(dst))?.held).toBe(0)
      expect(rc.proc(rc.dst).gone()).toBe(false)
    } finally {
      await rc.close()
    }
  })
})
