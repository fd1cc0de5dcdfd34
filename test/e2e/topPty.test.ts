import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../src/cluster/serviceContext.js'
import {type Move} from '../../src/model/move.js'
import {type PrivateEtcd, startPrivateEtcd} from '../support/privateEtcd.js'
import {HAS_SCRIPT, screenText, spawnPty, untilScreen as until} from '../support/pty.js'
import {CLI_BIN, runCli} from '../support/runCli.js'
import {StoreSet, uniqueCluster} from '../support/testStore.js'

/**
 * `shardctl top` as a user runs it: the real binary in a pseudo-terminal (util-linux
 * `script`), 100×30, against a real etcd holding a cluster with a move in progress. It
 * draws the dashboard, shows "reconnecting" while etcd is stopped and recovers when etcd
 * is back, and quits on `q`. Without a terminal it refuses with a one-line hint.
 */

describe.skipIf(!HAS_SCRIPT)('shardctl top in a pseudo-terminal', () => {
  let priv: PrivateEtcd
  const stores = new StoreSet()
  let ctx: ServiceContext
  const cluster = uniqueCluster('top')

  beforeAll(async () => {
    priv = await startPrivateEtcd()
    ctx = makeServiceContext(stores.open(priv.endpoint, cluster), {cluster})
    await initCluster(ctx, {shards: 4, rf: 3, nodes: parseNodeSpecs('n1=127.0.0.1:17101,n2=127.0.0.1:17102,n3=127.0.0.1:17103,n4=127.0.0.1:17104'), force: false})
    const at = new Date().toISOString()
    const move: Move = {
      id: 'p1-0000', plan: 'p1', index: 0, shard: 2, from: 'n1', to: 'n4', baseEpoch: 1, epoch: 2, phase: 'copying',
      progress: {bytes: 3 * 1024 * 1024, keys: 3000, totalBytes: 4 * 1024 * 1024, rateBytesPerSec: 512 * 1024, dataRateBytesPerSec: 256 * 1024, cursor: null, stalled: false},
      cancelRequested: false, reason: null, attempts: 0, createdAt: at, updatedAt: at, cutoverAt: null, copyStartedAt: null,
    } as Move
    await ctx.store.put(ctx.keys.move(move.id), JSON.stringify(move))
  }, 60_000)

  afterAll(async () => {
    stores.closeAll()
    await priv?.dispose()
  })

  it('Given no terminal, When top runs, Then it refuses with a one-line hint (exit 2)', async () => {
    const r = await runCli(['top', '--endpoints', priv.endpoint, '--cluster', cluster], {cwd: process.cwd(), timeoutMs: 60_000})
    expect(r.code).toBe(2)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/needs an interactive terminal.*top --json.*moves list/)
  }, 90_000)

  it('Given a pty of 100×30, When top runs, Then it draws the dashboard, survives an etcd restart and quits on q', async () => {
    const cmd = `stty cols 100 rows 30 && exec ${process.execPath} ${CLI_BIN} top --endpoints ${priv.endpoint} --cluster ${cluster}`
    const pty = spawnPty(cmd)
    const {child, exited, screen} = pty
    try {
      await until('the dashboard', screen, (s) => s.includes(`cluster ${cluster} · connected`) && /n4 +DOWN/.test(s) && /n1 → n4 +copying .*75%/.test(s), 60_000)
      const frame = screen()
      // No node process runs: every shard has no live voter, and the header counts them (from the census's voter sets: top reads no shard).
      expect(frame).toMatch(/nodes 0 up 4 down · shards 4 · 4 under-replicated · rf 3/)
      expect(frame).toMatch(/MOVES 1 running, 0 finished/)
      // The row's rate and ETA are the data's (1 MiB left at 256 KiB/s), not the stream's 512 KiB/s.
      expect(frame).toMatch(/256 KiB\/s ETA 4s/)
      expect(frame).toContain('q quit')

      // etcd goes away: the header says so; it comes back: the dashboard recovers.
      await priv.etcd.stop()
      await until('reconnecting', screen, (s) => s.includes('etcd DOWN — reconnecting'), 45_000)
      const mark = pty.raw().length
      await priv.restart()
      await until('recovery', () => screenText(pty.raw().slice(mark)), (s) => s.includes('etcd reachable again') || s.includes(`cluster ${cluster} · connected`), 60_000)

      child.stdin.write('q')
      expect(await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 20_000))])).toBe(0)
    } finally {
      pty.dispose()
    }
  }, 240_000)
})
