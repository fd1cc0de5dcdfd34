import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {formatHlc, HybridClock} from '../../src/model/hlc.js'
import {readNodeStats} from '../../src/cluster/clusterRepo.js'
import {type Move, MoveSchema} from '../../src/model/move.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {DataPlane, waitFor} from '../integration/router/dataPlane.js'
import {type CliResult, runCli} from '../support/runCli.js'

/**
 * What an operator sees of a running copy, on real processes (etcd, two storage nodes, the
 * shardctl binary as executor, `moves show --json` and `top --json` as separate runs): the
 * rate and ETA come from the destination's reported progress, and they follow a live
 * `throttle set` within seconds. A rate computed from anything but the bytes the node
 * copied (the throttle asked for, an average since the start, a 30 s window) fails the
 * second half. Bad copy flags exit 2 with one line and change nothing.
 */

const KiB = 1024
const MiB = 1024 * KiB
const SHARD_BYTES = 24 * MiB
const VALUE_BYTES = 16 * KiB
/** RATE_WINDOW_MS is the drain's --rate-window: the looks below wait one window and a 2 s margin. */
const RATE_WINDOW_MS = 2000

let dp: DataPlane
let owner: string
const conn = () => ['--endpoints', dp.endpoint, '--cluster', dp.cluster]
const cli = (args: string[], timeoutMs = 60_000) => runCli([...args, ...conn()], {cwd: process.cwd(), timeoutMs})

async function moves(): Promise<Move[]> {
  return (await dp.ctx.store.listTyped(dp.ctx.keys.movesPrefix, MoveSchema)).items.map((i) => i.value)
}

/**
 * clusterState is every key of the cluster but the ones nodes rewrite on their own (stats, load
 * pages, liveness, write marks: a node raises marks/<id> as it commits, so a CI run saw n2's go
 * from 2 to 3 while the refused commands ran, the only key that changed).
 */
async function clusterState(): Promise<string> {
  const {items} = await dp.ctx.store.list(dp.ctx.keys.prefix)
  return JSON.stringify(items.filter((kv) => !/\/(stats|loads|alive|marks)\//.test(kv.key)).map((kv) => [kv.key, kv.value]))
}

function json<T>(r: CliResult): T {
  expect(r.code, r.stderr + r.stdout).toBe(0)
  return JSON.parse(r.stdout) as T
}

beforeAll(async () => {
  dp = new DataPlane(inject('etcdEndpoint'), 'e2e-progress')
  await dp.init(2, 1, 1)
  const [shard] = await dp.shards()
  owner = shard!.replicas[0]!.node
  const clock = new HybridClock('fill', Date.now)
  const value = Buffer.alloc(VALUE_BYTES, 'p')
  const node = dp.client(owner)
  for (let i = 0; i < SHARD_BYTES / VALUE_BYTES; i += 64) {
    const batch: NodeRecord[] = Array.from({length: 64}, (_, j) => ({key: Buffer.from(`p-${i + j}`), version: formatHlc(clock.now()), value}))
    await node.apply(shard!.id, shard!.epoch, batch, 'write')
  }
  // The drain plans the move's size from the stats the node publishes to etcd.
  await waitFor(
    async () => {
      const stats = await readNodeStats(dp.ctx, owner)
      return (stats?.shards[0]?.bytes ?? 0) >= SHARD_BYTES ? true : undefined
    },
    'the node to publish its stats',
    30_000,
  )
}, 120_000)

afterAll(() => dp?.teardown())

describe('bad copy flags', () => {
  it('exit 2 with one line naming the flag, and change nothing', async () => {
    const before = await clusterState()
    const cases: [string[], RegExp][] = [
      [['node', 'drain', owner, '--yes', '--throttle', 'fast'], /--throttle: "fast" is not a rate; use bytes per second such as 50MiB\/s/],
      [['node', 'drain', owner, '--yes', '--throttle', '0'], /--throttle: "0" is not a usable rate/],
      [['node', 'drain', owner, '--yes', '--chunk-size', '-4KiB'], /--chunk-size: "-4KiB" is not a size/],
      [['node', 'drain', owner, '--yes', '--node-throttle', '-1MiB/s'], /--node-throttle: "-1MiB\/s" is not a rate/],
      [['apply', '--resume', '--yes', '--throttle', 'fast'], /--throttle: "fast" is not a rate/],
      [['throttle', 'set', 'fast'], /"fast" is not a rate/],
    ]
    for (const [args, message] of cases) {
      const r = await cli(args)
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2)
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1)
      expect(r.stderr, args.join(' ')).toMatch(message)
    }
    expect(await moves()).toHaveLength(0)
    expect(await clusterState()).toBe(before)
  }, 180_000)
})

describe('a running copy in `moves show` and `top`', () => {
  it('shows the rate the node copies at and an ETA from it, and follows `throttle set` within seconds', async () => {
    // A 2 s rate window (--rate-window; 5 s by default), so each look below waits one short
    // window (and a margin), not two default ones.
    const drain = cli(['node', 'drain', owner, '--yes', '--throttle', '256KiB/s', '--rate-window', `${RATE_WINDOW_MS}ms`], 150_000)
    try {
      const copying = await waitFor(async () => (await moves()).find((m) => m.phase === 'copying' && m.progress.bytes > 0), 'the move to copy', 60_000)
      // A full rate window after the copy started, so the start's burst is out of it.
      await new Promise((r) => setTimeout(r, RATE_WINDOW_MS + 2000))
      type Shown = Move & {etaSeconds: number | null}
      const slow = json<Shown>(await cli(['moves', 'show', copying.id, '--json']))
      expect(slow.phase).toBe('copying')
      expect(slow.progress.totalBytes).toBeGreaterThanOrEqual(SHARD_BYTES)
      // The stream's rate is what the throttle spends; with 16 KiB values the key and value
      // bytes are nearly all of it, and the ETA divides the data left by their rate.
      expect(slow.progress.rateBytesPerSec / (256 * KiB)).toBeGreaterThan(0.8)
      expect(slow.progress.rateBytesPerSec / (256 * KiB)).toBeLessThan(1.2)
      expect(slow.progress.dataRateBytesPerSec).toBeLessThanOrEqual(slow.progress.rateBytesPerSec)
      expect(slow.progress.dataRateBytesPerSec / slow.progress.rateBytesPerSec).toBeGreaterThan(0.9)
      expect(slow.etaSeconds).toBe(Math.round((slow.progress.totalBytes - slow.progress.bytes) / slow.progress.dataRateBytesPerSec))
      expect(slow.etaSeconds!).toBeGreaterThan(20)
      const top = json<{moves: {id: string; dataRateBytesPerSec: number; etaSeconds: number | null; bytes: number}[]}>(await cli(['top', '--json']))
      const row = top.moves.find((m) => m.id === copying.id)
      expect(row, JSON.stringify(top.moves)).toBeDefined()
      expect(row!.bytes).toBeGreaterThanOrEqual(slow.progress.bytes)
      expect(row!.dataRateBytesPerSec / (256 * KiB)).toBeGreaterThan(0.8)
      expect(row!.dataRateBytesPerSec / (256 * KiB)).toBeLessThan(1.2)
      expect(row!.etaSeconds).toBeGreaterThan(0)

      // Four times the rate: the figure shown must follow within a rate window, the ETA with it.
      expect((await cli(['throttle', 'set', '1MiB/s'])).code).toBe(0)
      const setAt = Date.now()
      await new Promise((r) => setTimeout(r, Math.max(0, setAt + RATE_WINDOW_MS + 2000 - Date.now())))
      // Looked at again for a few seconds more: on a starved CI machine one look came at 0.74 MiB/s
      // (the window still held slow seconds). A rate that never follows still fails below.
      let fast = json<Shown>(await cli(['moves', 'show', copying.id, '--json']))
      for (let look = 0; look < 8 && fast.phase === 'copying' && Math.abs(fast.progress.rateBytesPerSec / MiB - 1) >= 0.2; look++) {
        await new Promise((r) => setTimeout(r, 1000))
        fast = json<Shown>(await cli(['moves', 'show', copying.id, '--json']))
      }
      expect(fast.phase, 'the copy ended before the second look: make the shard bigger').toBe('copying')
      expect(fast.progress.rateBytesPerSec / MiB).toBeGreaterThan(0.8)
      expect(fast.progress.rateBytesPerSec / MiB).toBeLessThan(1.2)
      expect(fast.progress.bytes).toBeGreaterThan(slow.progress.bytes)
      expect(fast.etaSeconds).toBe(Math.round((fast.progress.totalBytes - fast.progress.bytes) / fast.progress.dataRateBytesPerSec))

      expect((await cli(['throttle', 'set', '100MiB/s'])).code).toBe(0)
      const done = await drain
      expect(done.code, done.stderr + done.stdout).toBe(0)
      const finished = (await moves()).find((m) => m.id === copying.id)
      expect(finished?.phase).toBe('done')
      expect(finished?.progress.bytes).toBeGreaterThanOrEqual(SHARD_BYTES)
    } finally {
      // Let a drain left running by a failed expectation finish quickly (unset would return to its 256KiB/s).
      await cli(['throttle', 'set', '100MiB/s'])
      await drain
    }
  }, 240_000)
})
