import {cpSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {NodeMarkSchema} from '../../../src/model/node.js'
import {DataPlane, keyFor, kv, waitFor} from '../router/dataPlane.js'

/**
 * A snapshot of a node's dir taken while it serves, after its last published write mark; the
 * node acknowledges more writes, is stopped gracefully (SIGTERM) and its dir is rolled back to
 * the snapshot (a VM restored after a planned shutdown). Until session 37 a graceful stop
 * published no final mark, so the snapshot's mark equalled the published one, it was judged the
 * node's current dir and served: at rf 1 the writes acknowledged after it read back absent. A
 * graceful stop now publishes a mark covering every commit before it closes its storage, so the
 * snapshot is refused as older than what the node served. (A crash still leaves the window of
 * one stats interval: src/node/README.md.)
 */

let dp: DataPlane
const extraDirs: string[] = []
const published = async () => (await dp.ctx.store.getTyped(dp.ctx.keys.mark('n1'), NodeMarkSchema))?.value
const aliveGone = () => waitFor(async () => ((await dp.ctx.store.get(dp.ctx.keys.alive('n1'))) ? undefined : true), 'alive/n1 to lapse', 20_000)

beforeAll(async () => {
  dp = new DataPlane(inject('etcdEndpoint'), 'restored-graceful')
  // The periodic write mark (every stats interval) is far away: only registration and the stop publish.
  dp.statsInterval = '120s'
  // rf 1: n1's shard has no other copy, so a write the restored dir lacks is simply gone.
  await dp.init(2, 8, 1)
}, 120_000)

afterAll(async () => {
  await dp?.teardown()
  for (const d of extraDirs) rmSync(d, {recursive: true, force: true})
})

describe('a snapshot of a node dir taken after its last published mark, restored after a graceful stop', () => {
  it('Given writes acknowledged after the snapshot, When n1 stops gracefully and restarts on the snapshot, Then the snapshot is refused (no acknowledged write reads back absent)', async () => {
    const shard = (await dp.shards()).find((s) => s.replicas[0]!.node === 'n1')!
    const router = await dp.startRouter('r1')
    expect((await kv(router.address, 'PUT', keyFor(shard, 'in-the-snapshot'), 'v')).status).toBe(204)
    await waitFor(async () => ((await published())?.mark ?? 0) > 0 || undefined, 'n1 to publish its registration mark', 20_000)
    const atSnapshot = (await published())!.mark

    // The snapshot: n1 frozen (every thread) for the copy, as a volume snapshot sees it.
    const copy = join(mkdtempSync(join(tmpdir(), 'shardctl-restored-graceful-')), 'copy')
    extraDirs.push(copy)
    dp.nodes.n1!.signal('SIGSTOP')
    try {
      cpSync(dp.dataDirs.n1!, copy, {recursive: true})
    } finally {
      dp.nodes.n1!.signal('SIGCONT')
    }

    const late = keyFor(shard, 'acknowledged-after-the-snapshot')
    expect((await kv(router.address, 'PUT', late, 'v')).status).toBe(204)
    expect((await published())!.mark).toBe(atSnapshot)

    // A planned shutdown, then the dir is rolled back to the snapshot.
    dp.nodes.n1!.signal('SIGTERM')
    expect(await dp.nodes.n1!.exited).toBe(0)
    await aliveGone()
    rmSync(dp.dataDirs.n1!, {recursive: true, force: true})
    cpSync(copy, dp.dataDirs.n1!, {recursive: true})

    const started = await dp.startNode('n1').then(
      (p) => p,
      (err: Error) => err,
    )
    if (!(started instanceof Error)) {
      const got = await kv(router.address, 'GET', late)
      expect.fail(`n1 served the snapshot (published mark ${(await published())?.mark}, ${atSnapshot} at the snapshot); the write acknowledged after it read ${got.status}`)
    }
    expect(started.message).toMatch(/is older than what node n1 already served from it/)
  }, 180_000)
})
