import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleepFor} from 'node:timers/promises'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {type Move, MoveSchema} from '../../../src/model/move.js'
import {type Shard} from '../../../src/model/shard.js'
import {type CliChild, spawnCli} from '../../support/cliChild.js'
import {runCli} from '../../support/runCli.js'
import {runWorkload} from '../../support/workload.js'
import {expectDigestsAgree, expectWorkloadIntact, waitForHintsDrained} from '../../support/workloadChecks.js'
import {DataPlane, keyFor, kv, waitFor} from '../router/dataPlane.js'

/**
 * A kv executor frozen past its lease (SIGSTOP: a GC pause, a VM stall) while it copies, then
 * taken over by `apply --resume` (the documented way on from an executor that stopped), then
 * woken (SIGCONT). The frozen `apply` is the real process from dist/, its move copying slowly
 * (a throttle) into the destination under a steady client load through a real router, rf 1.
 *
 * Two wakes: after the takeover finished the move (the woken one holds a `copying` record and
 * a pull in flight for a move that is `done`), and while the takeover still copies the same
 * move (both then talk to the same destination about the same pull). Checked each time: the
 * woken executor changes nothing in etcd (no move, shard, control or lock key written after
 * it woke: every write it makes is fenced on the lock's create revision), exits non-zero and
 * says it lost the lock; the move ends `done` on the destination and `moves show` says so;
 * the takeover finishes; every acknowledged write reads back, no read was stale, no request
 * failed.
 *
 * Can fail: with commitMoveTransition's compares taken out (neither the lock's create revision
 * nor the move's revision), the woken one's progress write lands over the finished move
 * (`moves show` says copying again, and the key check fails); a woken one that reported
 * success (exit 0) or kept running fails the exit check. (The lock fence alone is not what the
 * first wake tests: the move's revision compare also stops that write, the takeover having
 * written the move since. test/executor/leaseGate.memoryStore.test.ts covers the window in
 * which the woken one still sends requests to nodes.)
 */

const VALUE = 'x'.repeat(1024)
const RECORDS = 1200

let cwd: string
beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-frozen-exec-'))
})
afterAll(() => {
  if (cwd) rmSync(cwd, {recursive: true, force: true})
})

describe('a kv executor frozen past its lease mid-copy, taken over, then woken', {timeout: 300_000}, () => {
  let dp: DataPlane
  let router: string
  /** expectLoadIntact awaits the client load, lets the router's hints drain, and checks the replicas agree and every acknowledged write reads back. */
  async function expectLoadIntact(load: ReturnType<typeof runWorkload>, label: string): Promise<void> {
    const report = await load
    await waitForHintsDrained(router)
    await expectDigestsAgree(dp, await dp.shards())
    await expectWorkloadIntact(router, report, 200)
    console.info(`${label}: ${report.writesAcked} writes acknowledged, ${report.reads} reads`)
  }
  const conn = () => ['--endpoints', inject('etcdEndpoint'), '--cluster', dp.cluster]
  const cli = (args: string[], timeoutMs = 120_000) => runCli([...args, ...conn()], {cwd, timeoutMs})

  beforeAll(async () => {
    dp = new DataPlane(inject('etcdEndpoint'), 'frozen-exec')
    await dp.init(3, 4, 1)
    router = (await dp.startRouter('r1')).address
  }, 90_000)
  afterAll(() => dp?.teardown())

  async function moveOf(id: string): Promise<Move | undefined> {
    return (await dp.ctx.store.getTyped(dp.ctx.keys.move(id), MoveSchema))?.value
  }

  /** recordMove writes a pending move of `shard` to `to` (as `apply` records one); `apply --resume` runs it. */
  async function recordMove(id: string, shard: Shard, to: string): Promise<void> {
    const at = new Date().toISOString()
    const move: Move = {id, plan: 'by-hand', index: 0, shard: shard.id, from: shard.replicas[0]!.node, to, baseEpoch: shard.epoch, epoch: shard.epoch, phase: 'pending', progress: {bytes: 0, keys: 0, totalBytes: RECORDS * VALUE.length, rateBytesPerSec: 0, dataRateBytesPerSec: 0, cursor: null, stalled: false}, cancelRequested: false, rollbackRequested: false, reason: null, attempts: 0, createdAt: at, updatedAt: at, cutoverAt: null, copyStartedAt: null}
    await dp.ctx.store.put(dp.ctx.keys.move(id), JSON.stringify(move))
  }

  /** fill writes RECORDS values of 1 KiB into `shard` through the router (so its copy takes a while at a low throttle). */
  async function fill(shard: Shard, prefix: string): Promise<void> {
    const keys: string[] = []
    for (let i = 0; keys.length < RECORDS; i++) keys.push(keyFor(shard, `${prefix}-${i}`))
    for (let i = 0; i < keys.length; i += 50) {
      const rs = await Promise.all(keys.slice(i, i + 50).map((k) => kv(router, 'PUT', k, VALUE)))
      expect(rs.every((r) => r.status >= 200 && r.status < 300)).toBe(true)
    }
  }

  /** executorKeys are the keys only an executor (or this test) writes: every move, every shard, the control record, the lock. */
  async function executorKeys(): Promise<Map<string, bigint>> {
    const out = new Map<string, bigint>()
    for (const prefix of [dp.ctx.keys.movesPrefix, dp.ctx.keys.shardsPrefix]) for (const e of (await dp.ctx.store.list(prefix)).items) out.set(e.key, e.modRevision)
    for (const key of [dp.ctx.keys.control, dp.ctx.keys.executorLock]) {
      const e = await dp.ctx.store.get(key)
      if (e) out.set(key, e.modRevision)
    }
    return out
  }

  /** freezeMidCopy starts `apply --resume` (slow), waits for the move to copy, SIGSTOPs it and waits out its lease. */
  async function freezeMidCopy(id: string): Promise<CliChild> {
    const frozen = spawnCli(['apply', '--resume', '--yes', '--throttle', '48KiB/s', '--chunk-size', '16KiB', ...conn()])
    try {
      await waitFor(async () => {
        const m = await moveOf(id)
        return m?.phase === 'copying' && m.progress.bytes > 0 ? m : undefined
      }, 'the move copying', 60_000)
      frozen.signal('SIGSTOP')
      // Its lease (10 s TTL) lapses: the lock key goes with it.
      await waitFor(async () => ((await dp.ctx.store.get(dp.ctx.keys.executorLock)) ? undefined : true), 'the frozen executor\'s lock to lapse', 30_000)
      expect((await moveOf(id))?.phase).toBe('copying')
      return frozen
    } catch (err) {
      await frozen.kill()
      throw err
    }
  }

  /** wake SIGCONTs the frozen executor and waits (bounded) for it to exit; returns its exit code and output. */
  async function wake(frozen: CliChild): Promise<{code: number | string; out: string}> {
    frozen.signal('SIGCONT')
    const code = await Promise.race([frozen.exited, sleepFor(30_000).then(() => 'still running')])
    if (code === 'still running') await frozen.kill()
    return {code, out: frozen.stdout() + frozen.logs()}
  }

  it('woken after the takeover finished the move: it writes nothing, says it lost the lock, and every acknowledged write reads back', async () => {
    const shard = (await dp.shards())[0]!
    const to = ['n1', 'n2', 'n3'].find((n) => n !== shard.replicas[0]!.node)!
    await fill(shard, 'frozen-a')
    await recordMove('frozen-a', shard, to)
    const stop = new AbortController()
    const load = runWorkload(router, {workers: 4, keysPerWorker: 25, maxOps: 40_000, maxMs: 150_000, stop: stop.signal})
    let frozen: CliChild | undefined
    try {
      frozen = await freezeMidCopy('frozen-a')
      const takeover = await cli(['apply', '--resume', '--yes', '--throttle', '64MiB/s'])
      expect(takeover.code, takeover.stderr).toBe(0)
      expect((await moveOf('frozen-a'))?.phase).toBe('done')
      const before = await executorKeys()

      const woken = await wake(frozen)
      expect(woken.code, woken.out).not.toBe('still running')
      expect(woken.code, woken.out).not.toBe(0)
      expect(woken.out).toMatch(/lost (its|the) (lease|lock)/)
      // Nothing else writes these keys now: any change is the woken executor's.
      expect(await executorKeys()).toEqual(before)
      const shown = await cli(['moves', 'show', 'frozen-a', '--json'])
      expect(shown.code, shown.stderr).toBe(0)
      expect(JSON.parse(shown.stdout).phase).toBe('done')
      const after = (await dp.shards()).find((s) => s.id === shard.id)!
      expect(after.replicas.map((r) => [r.node, r.role])).toEqual([[to, 'voter']])
    } finally {
      await frozen?.kill()
      stop.abort()
    }
    await expectLoadIntact(load, 'frozen executor woken after the takeover')
  })

  it('woken while the takeover still copies the same move: it stops, the takeover finishes, and every acknowledged write reads back', async () => {
    const shard = (await dp.shards())[1]!
    const to = ['n1', 'n2', 'n3'].find((n) => n !== shard.replicas[0]!.node)!
    await fill(shard, 'frozen-b')
    await recordMove('frozen-b', shard, to)
    const stop = new AbortController()
    const load = runWorkload(router, {workers: 4, keysPerWorker: 25, maxOps: 40_000, maxMs: 150_000, stop: stop.signal})
    let frozen: CliChild | undefined
    let takeover: CliChild | undefined
    try {
      frozen = await freezeMidCopy('frozen-b')
      // The takeover copies at 256 KiB/s: about 5 s for what is left, never the frozen one's 48 KiB/s (25 s).
      takeover = spawnCli(['apply', '--resume', '--yes', '--throttle', '256KiB/s', '--chunk-size', '16KiB', ...conn()])
      const resumedAt = await waitFor(async () => {
        const m = await moveOf('frozen-b')
        return m?.phase === 'copying' && (await dp.ctx.store.get(dp.ctx.keys.executorLock)) ? m.progress.bytes : undefined
      }, 'the takeover running the copy', 30_000)
      const woken = await wake(frozen)
      expect(woken.code, woken.out).not.toBe('still running')
      expect(woken.code, woken.out).not.toBe(0)
      expect(woken.out).toMatch(/lost (its|the) (lease|lock)/)
      const code = await Promise.race([takeover.exited, sleepFor(60_000).then(() => 'still running')])
      expect(code, takeover.logs()).toBe(0)
      expect((await moveOf('frozen-b'))?.phase).toBe('done')
      console.info(`takeover resumed the copy at ${resumedAt} bytes`)
    } finally {
      await frozen?.kill()
      await takeover?.kill()
      stop.abort()
    }
    await expectLoadIntact(load, 'frozen executor woken during the takeover')
  })
  it('frozen while it retried an unreachable destination, woken while the takeover holds the copy paused: it sends the destination no pull, so nothing copies while paused', async () => {
    // Interleaving: the destination is killed mid-copy, so the frozen executor spends its time
    // sleeping between refused requests; it is frozen there, the destination comes back, the
    // operator pauses (`moves pause`) and the takeover holds the copy (no pull). On waking, the
    // ended sleep runs before the lease deadline's timer stops the run: without the lease gate
    // the woken one pushed its node rates and asked the destination to pull, at its own rate,
    // and the destination copied on while the operator's pause held (the takeover, paused,
    // never cancels again). Timing-dependent on a build without the gate (the freeze must land
    // in one of those sleeps): it failed 1 of 2 runs there, the destination copying at the woken
    // one's 48 KiB/s for as long as the test looked; test/executor/leaseGate.memoryStore.test.ts
    // fails every time.
    const shard = (await dp.shards())[2]!
    const to = ['n1', 'n2', 'n3'].find((n) => n !== shard.replicas[0]!.node)!
    await fill(shard, 'frozen-c')
    await recordMove('frozen-c', shard, to)
    // No client load here: the destination's restart would fail the requests of the other shards it holds.
    const frozen = spawnCli(['apply', '--resume', '--yes', '--throttle', '48KiB/s', '--chunk-size', '16KiB', ...conn()])
    let takeover: CliChild | undefined
    try {
      await waitFor(async () => {
        const m = await moveOf('frozen-c')
        return m?.phase === 'copying' && m.progress.bytes > 0 ? m : undefined
      }, 'the move copying', 60_000)
      await dp.nodes[to]!.kill()
      // A few refused rounds (every 250 ms), then the freeze lands in one of its sleeps.
      await sleepFor(1500)
      frozen.signal('SIGSTOP')
      await dp.startNode(to)
      const paused = await cli(['moves', 'pause'])
      expect(paused.code, paused.stderr).toBe(0)
      await waitFor(async () => ((await dp.ctx.store.get(dp.ctx.keys.executorLock)) ? undefined : true), "the frozen executor's lock to lapse", 30_000)
      takeover = spawnCli(['apply', '--resume', '--yes', '--throttle', '48KiB/s', '--chunk-size', '16KiB', ...conn()])
      await waitFor(async () => ((await dp.ctx.store.get(dp.ctx.keys.executorLock)) ? true : undefined), 'the takeover to hold the lock', 30_000)
      // The takeover reached the copy and holds it (a restarted destination runs no pull of its own).
      await sleepFor(3000)
      const held = await dp.client(to).pullStatus(shard.id)
      expect(held.state, JSON.stringify(held)).not.toBe('running')

      const woken = await wake(frozen)
      expect(woken.code, woken.out).not.toBe('still running')
      expect(woken.code, woken.out).not.toBe(0)
      // Paused: nothing may copy into the destination now.
      const seen: string[] = []
      for (let i = 0; i < 12; i++) {
        const st = await dp.client(to).pullStatus(shard.id)
        seen.push(`${st.state}:${st.bytes}`)
        await sleepFor(250)
      }
      console.info(`destination's pull after the woken executor exited (state:bytes every 250 ms): ${seen.join(' ')}`)
      expect(seen.filter((s) => s.startsWith('running')), `destination pull while paused: ${seen.join(' ')}\n${woken.out.slice(-1500)}`).toEqual([])

      const resumed = await cli(['moves', 'resume'])
      expect(resumed.code, resumed.stderr).toBe(0)
      const code = await Promise.race([takeover.exited, sleepFor(90_000).then(() => 'still running')])
      expect(code, takeover.logs()).toBe(0)
      expect((await moveOf('frozen-c'))?.phase).toBe('done')
    } finally {
      await frozen.kill()
      await takeover?.kill()
      await cli(['moves', 'resume']).catch(() => undefined)
    }
  })
})
