/**
 * A node whose disk fills while its WAL is long (more than the 16 MiB after which a
 * background checkpoint copies it into the database file, which then needs as much room
 * again): the checkpoint fails for want of room (the database file is left extended, its
 * pages not all written) and writes are refused with the full-disk line, but nothing
 * acknowledged is lost: every acknowledged write reads back after a SIGKILL and a restart
 * on the still full disk, and again after space is freed, writes went on, a later
 * checkpoint copied the WAL into the database file, and the node was SIGKILLed once more.
 * Real etcd and a real node process; its data dir is on a tmpfs (needs root; skipped with
 * the reason otherwise).
 */
import {statSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {formatHlc} from '../../../src/model/hlc.js'
import {type Shard} from '../../../src/model/shard.js'
import {loadClusterToken} from '../../../src/node/clusterToken.js'
import {DB_FILE} from '../../../src/node/lwwSql.js'
import {type NodeClient} from '../../../src/node/nodeClient.js'
import {type NodeRecord} from '../../../src/node/protocol.js'
import {DataPlane} from '../router/dataPlane.js'
import {isRefusal, mountTmpfs, type TmpfsDisk} from './tmpfsDisk.js'

const mounted = mountTmpfs('diskfullwal', 96)
const disk: TmpfsDisk | undefined = isRefusal(mounted) ? undefined : mounted
const skipped = isRefusal(mounted) ? ` (skipped: ${mounted.refused})` : ''

let dp: DataPlane
let shard: Shard

beforeAll(async () => {
  if (!disk) return
  dp = new DataPlane(inject('etcdEndpoint'), 'diskfullwal')
  dp.dataDirs.n1 = disk.dataDir
  await initCluster(dp.ctx, {shards: 1, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:1'), force: false})
  // A placeholder port in the record: the node starts on port 0 and registers the port it bound (dp.ports).
  await dp.startNode('n1')
  dp.token = await loadClusterToken(dp.ctx, {create: false})
  shard = (await dp.shards())[0]!
})

afterAll(async () => {
  try {
    await dp?.teardown()
  } finally {
    disk?.unmount()
  }
})

const MiB = 1024 * 1024
/** A batch is 32 records of 16 KiB: half a MiB. */
const BATCH = 32
const valueOf = (i: number) => Buffer.alloc(16 * 1024, i % 251)

/** batchFrom is the batch of keys k`first` .. k`first + BATCH - 1`. */
function batchFrom(first: number): NodeRecord[] {
  const records: NodeRecord[] = []
  for (let n = first; n < first + BATCH; n++) records.push({key: Buffer.from(`k${n}`), value: valueOf(n), version: formatHlc({wall: Date.now(), counter: n, writer: 'test'})})
  return records
}

/** written counts the keys k0 .. k(written - 1), every one of them acknowledged. */
let written = 0

/** writeBatches writes up to `count` more batches, stopping at the first refusal (returned). */
async function writeBatches(c: NodeClient, count: number): Promise<unknown> {
  for (let b = 0; b < count; b++) {
    const err = await c.apply(shard.id, shard.epoch, batchFrom(written), 'write').then(
      () => undefined,
      (e: unknown) => e,
    )
    if (err) return err
    written += BATCH
  }
  return undefined
}

/** unreadable lists the acknowledged keys node n1 (restarted, so a fresh client) does not read back with their value. */
async function unreadable(): Promise<string[]> {
  const c = dp.client('n1')
  const bad: string[] = []
  for (let n = 0; n < written; n++) {
    const r = await c.get(shard.id, shard.epoch, Buffer.from(`k${n}`))
    if (!r.record?.value?.equals(valueOf(n))) bad.push(`k${n}`)
  }
  return bad
}

async function restart(): Promise<void> {
  await dp.nodes.n1!.kill()
  await dp.startNode('n1')
}

/** dbAllocated is how many bytes of the database file hold data (a checkpoint that found no room leaves it extended with holes). */
function dbAllocated(): {size: number; allocated: number} {
  const s = statSync(join(disk!.dataDir, DB_FILE))
  return {size: s.size, allocated: s.blocks * 512}
}

describe.skipIf(!disk)(`a node whose disk fills while its WAL is long${skipped}`, {timeout: 60_000}, () => {
  it('Given 14 MiB in the WAL and 6 MiB of room, When writes go on, Then the checkpoint at 16 MiB finds no room, writes are refused with the full-disk line, and every acknowledged write survives a SIGKILL and a restart on the full disk', async () => {
    const c = dp.client('n1')
    expect(await writeBatches(c, 28)).toBeUndefined()
    expect(dbAllocated().allocated).toBeLessThan(MiB)
    disk!.fill(6 * MiB)
    const refused = await writeBatches(c, 40)
    expect(refused).toMatchObject({code: 'NOT_SERVING'})
    expect((refused as Error).message).toMatch(/out of disk space in data dir .*: the write was not stored/)
    expect(written).toBeGreaterThan(28 * BATCH)
    // The checkpoint begun once 16 MiB were committed found no room for the WAL's pages: the
    // file is extended, not filled (it runs in the background: wait for it, bounded).
    for (let i = 0; i < 100 && dbAllocated().size <= 16 * MiB; i++) await new Promise((r) => setTimeout(r, 100))
    const db = dbAllocated()
    expect(db.size).toBeGreaterThan(16 * MiB)
    expect(db.allocated).toBeLessThan(db.size)
    expect(dp.nodes.n1!.gone()).toBe(false)
    await restart()
    expect(await unreadable()).toEqual([])
  })

  it('Given that, When space is freed and writes go on past the next checkpoint, Then the checkpoint fills the database file and every acknowledged write survives another SIGKILL and restart', async () => {
    disk!.release()
    const c = dp.client('n1')
    expect(await writeBatches(c, 36)).toBeUndefined()
    // The next checkpoint (16 MiB later) copied the WAL into the database file.
    for (let i = 0; i < 100 && dbAllocated().allocated < 16 * MiB; i++) await new Promise((r) => setTimeout(r, 100))
    expect(dbAllocated().allocated).toBeGreaterThanOrEqual(16 * MiB)
    await restart()
    expect(await unreadable()).toEqual([])
  })
})
