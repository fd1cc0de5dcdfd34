import {cpSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {NodeMarkSchema} from '../../../src/model/node.js'
import {type Shard} from '../../../src/model/shard.js'
import {DataPlane, keyFor, kv, waitFor} from '../router/dataPlane.js'

/**
 * A snapshot of a node's dir (a VM or volume snapshot: crash-consistent, taken while the
 * node runs) taken after the node's last published write mark, then a delete and its purge
 * on every replica, all before the node publishes again (a grace below the stats interval,
 * or publishes failing), then the node crashes and the snapshot is restored. Until session
 * 36 the snapshot's mark equalled the published one, so it was judged the node's current
 * dir (`same`) and served without --accept-empty-data: it still held the deleted value, the
 * other replicas held neither it nor (purged) its tombstone, and their gc floors dropped it
 * when read repair offered it, so every read quorum including the node returned the deleted
 * value, for good. Now a replica publishes a write mark covering every commit it holds
 * before it answers a gc fence, so no tombstone is purged until every replica's published
 * mark is above any copy of its dir that lacks the tombstone: the snapshot is refused as
 * older than what the node served.
 */

let dp: DataPlane
const extraDirs: string[] = []

const published = async (id: string) => (await dp.ctx.store.getTyped(dp.ctx.keys.mark(id), NodeMarkSchema))?.value
const aliveGone = (id: string) => waitFor(async () => ((await dp.ctx.store.get(dp.ctx.keys.alive(id))) ? undefined : true), `alive/${id} to lapse`, 20_000)

/** tombstones is node `id`'s tombstone gauge (every shard). */
async function tombstones(id: string): Promise<number> {
  const text = await (await fetch(`http://${dp.nodes[id]!.address}/metrics`)).text()
  return Number(new RegExp('^shardctl_node_tombstones (\\d+)', 'm').exec(text)?.[1] ?? NaN)
}

beforeAll(async () => {
  dp = new DataPlane(inject('etcdEndpoint'), 'restored-unpublished')
  // Anti-entropy runs every second (grace/4, at least 1 s): a delete is purged a few seconds
  // after it; the stats interval (and with it the periodic write mark) is far longer.
  dp.nodeArgs = ['--tombstone-grace', '2s', '--max-clock-offset', '50ms']
  dp.statsInterval = '120s'
  await dp.init(3, 1, 3)
}, 120_000)

afterAll(async () => {
  await dp?.teardown()
  for (const d of extraDirs) rmSync(d, {recursive: true, force: true})
})

describe('a snapshot of a node dir taken after its last published write mark, restored after a delete was purged', () => {
  it('Given n3 snapshotted while serving after its last mark publish, and a delete purged on every replica since, When n3 crashes and restarts on the snapshot, Then the snapshot is refused as older than what n3 served (no read can return the deleted value)', async () => {
    const shard: Shard = (await dp.shards())[0]!
    const router = await dp.startRouter('r1')
    const key = keyFor(shard, 'deleted-after-the-snapshot')
    expect((await kv(router.address, 'PUT', key, 'deleted value')).status).toBe(204)
    const n3 = dp.client('n3')
    await waitFor(async () => ((await n3.get(shard.id, shard.epoch, Buffer.from(key))).record ? true : undefined), 'n3 to hold the value', 20_000)
    // n3's registration published its mark; the next periodic one is two minutes away.
    await waitFor(async () => ((await published('n3'))?.mark ?? 0) > 0 || undefined, 'n3 to publish its first mark', 20_000)
    const atSnapshot = (await published('n3'))!.mark

    // The snapshot: n3 frozen (every thread) for the copy, as a volume snapshot sees it.
    const copy = join(mkdtempSync(join(tmpdir(), 'shardctl-restored-unpublished-')), 'copy')
    extraDirs.push(copy)
    dp.nodes.n3!.signal('SIGSTOP')
    try {
      cpSync(dp.dataDirs.n3!, copy, {recursive: true})
    } finally {
      dp.nodes.n3!.signal('SIGCONT')
    }

    // The delete, acknowledged by all three, then purged everywhere.
    expect((await kv(router.address, 'DELETE', key)).status).toBe(204)
    await waitFor(async () => ((await n3.get(shard.id, shard.epoch, Buffer.from(key))).record?.value === null ? true : undefined), 'n3 to hold the tombstone', 20_000)
    for (const id of ['n1', 'n2', 'n3']) await waitFor(async () => (await tombstones(id)) === 0 || undefined, `${id} to purge the tombstone`, 40_000)

    // n3 crashes; its dir is rolled back to the snapshot.
    await dp.nodes.n3!.kill()
    await aliveGone('n3')
    rmSync(dp.dataDirs.n3!, {recursive: true, force: true})
    cpSync(copy, dp.dataDirs.n3!, {recursive: true})

    const started = await dp.startNode('n3').then(
      (p) => p,
      (err: Error) => err,
    )
    if (!(started instanceof Error)) {
      // Served: the deleted value must not read back (before session 36 it did).
      const reads: string[] = []
      for (let i = 0; i < 6; i++) {
        const r = await kv(router.address, 'GET', key)
        reads.push(r.status === 200 ? `200 ${r.body.toString()}` : String(r.status))
      }
      expect({markAtSnapshot: atSnapshot, markNow: (await published('n3'))?.mark, reads}).toEqual({markAtSnapshot: atSnapshot, markNow: expect.any(Number), reads: Array(6).fill('404')})
    }
    expect(started).toBeInstanceOf(Error)
    expect((started as Error).message).toMatch(/is older than what node n3 already served from it/)
  }, 180_000)
})
