import {cpSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {NodeMarkSchema} from '../../../src/model/node.js'
import {type Shard} from '../../../src/model/shard.js'
import {DataPlane, keyFor, kv, waitFor} from '../router/dataPlane.js'

/**
 * A node's own data dir restored from a copy taken before a delete that the replicas have
 * since purged (a backup, a VM snapshot rolled back), served with --accept-empty-data while
 * the node holds replicas (the refusal's hint offers exactly that, then `shardctl repair`).
 * The copy still holds the value the delete removed; the other replicas hold neither the
 * value nor (purged) the tombstone, and their gc floors drop the value when repair or read
 * repair offers it. Until session 35 the node served the copy as it was: a read quorum
 * including it returned the deleted value, for good (no repair could remove it). Now a dir
 * served under --accept-empty-data while the node holds replicas of shards with other
 * replicas forgets its values older than any purge cutoff (its clock minus its grace) in
 * those ranges before it serves; repair copies the live ones back from the other replicas.
 */

let dp: DataPlane
const extraDirs: string[] = []
const GRACE = '2s'

const published = async (id: string) => (await dp.ctx.store.getTyped(dp.ctx.keys.mark(id), NodeMarkSchema))?.value
const aliveGone = (id: string) => waitFor(async () => ((await dp.ctx.store.get(dp.ctx.keys.alive(id))) ? undefined : true), `alive/${id} to lapse`, 20_000)
const markAbove = (id: string, mark: number) => waitFor(async () => ((await published(id))?.mark ?? 0) > mark || undefined, `marks/${id} above ${mark}`, 20_000)

/** tombstones is node `id`'s tombstone gauge (every shard). */
async function tombstones(id: string): Promise<number> {
  const text = await (await fetch(`http://${dp.nodes[id]!.address}/metrics`)).text()
  return Number(new RegExp('^shardctl_node_tombstones (\\d+)', 'm').exec(text)?.[1] ?? NaN)
}

beforeAll(async () => {
  dp = new DataPlane(inject('etcdEndpoint'), 'restored-purged')
  // Anti-entropy runs every grace/4: a deleted key is purged a few seconds after its delete.
  dp.nodeArgs = ['--tombstone-grace', GRACE, '--max-clock-offset', '50ms']
  await dp.init(3, 1, 3)
}, 120_000)

afterAll(async () => {
  await dp?.teardown()
  for (const d of extraDirs) rmSync(d, {recursive: true, force: true})
})

describe('a node served from a copy of its dir older than a purged delete (--accept-empty-data)', () => {
  it('Given n3 restored from a copy holding a value whose delete every replica purged since, When it serves with --accept-empty-data, Then no read returns the deleted value, and an old live value reads back and is repaired onto n3', async () => {
    const shard: Shard = (await dp.shards())[0]!
    const router = await dp.startRouter('r1')
    const deletedKey = keyFor(shard, 'deleted-after-the-copy')
    const liveKey = keyFor(shard, 'live-in-the-copy')
    // Read before the writes: n3 publishes again after committing them. (Read after, a publish
    // that already covered them was the last one, and the wait below never ended: an idle node
    // publishes nothing.)
    await markAbove('n3', 0)
    const beforeWrites = (await published('n3'))!.mark
    expect((await kv(router.address, 'PUT', deletedKey, 'deleted value')).status).toBe(204)
    expect((await kv(router.address, 'PUT', liveKey, 'live value')).status).toBe(204)

    // The copy: n3 killed once it holds both writes (a write quorum is two of three) and a mark covering them is published, its dir copied.
    const n3 = dp.client('n3')
    for (const key of [deletedKey, liveKey]) await waitFor(async () => ((await n3.get(shard.id, shard.epoch, Buffer.from(key))).record ? true : undefined), `n3 to hold ${key}`, 20_000)
    await markAbove('n3', beforeWrites)
    await dp.nodes.n3!.kill()
    await aliveGone('n3')
    const copy = join(mkdtempSync(join(tmpdir(), 'shardctl-restored-purged-')), 'copy')
    extraDirs.push(copy)
    cpSync(dp.dataDirs.n3!, copy, {recursive: true})
    const copied = (await published('n3'))!.mark

    // n3 back on its own dir; the delete is acknowledged by all three and purged everywhere.
    await dp.startNode('n3')
    expect((await kv(router.address, 'DELETE', deletedKey)).status).toBe(204)
    for (const id of ['n1', 'n2', 'n3']) await waitFor(async () => (await tombstones(id)) === 0 || undefined, `${id} to purge the tombstone`, 40_000)
    // n3's later mark is published, so the copy is judged older than what n3 served.
    await markAbove('n3', copied)
    await dp.nodes.n3!.kill()
    await aliveGone('n3')

    // The operator restores the copy and serves it anyway.
    rmSync(dp.dataDirs.n3!, {recursive: true, force: true})
    cpSync(copy, dp.dataDirs.n3!, {recursive: true})
    const restored = await dp.startNode('n3', undefined, ['--accept-empty-data'])
    expect(restored.logs()).toMatch(/which is older than what the node served .*--accept-empty-data/)
    expect(restored.logs()).toMatch(/forgot 2 value\(s\) older than the tombstone grace in 1 shard range/)

    // Reads rotate over the voters: six cover every pair of the three twice.
    const reads: number[] = []
    for (let i = 0; i < 6; i++) reads.push((await kv(router.address, 'GET', deletedKey)).status)
    expect(reads).toEqual([404, 404, 404, 404, 404, 404])
    for (let i = 0; i < 6; i++) expect((await kv(router.address, 'GET', liveKey)).body.toString()).toBe('live value')
    // Anti-entropy copies the live value back onto n3.
    await waitFor(async () => ((await n3.get(shard.id, shard.epoch, Buffer.from(liveKey))).record?.value?.toString() === 'live value' ? true : undefined), 'the live value repaired onto n3', 30_000)
    expect((await n3.get(shard.id, shard.epoch, Buffer.from(deletedKey))).record).toBeUndefined()
  }, 180_000)
})
