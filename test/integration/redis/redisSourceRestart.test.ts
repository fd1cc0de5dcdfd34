import {describe, expect, it} from 'vitest'
import {fixOpenSlots} from '../../../src/redis/fixOpenSlots.js'
import {acknowledgeWarnings, getMove} from '../../../src/executor/moveStore.js'
import {withRedisNode} from '../../../src/redis/redisConnection.js'
import {formatMoveCursor, parseMoveCursor} from '../../../src/redis/moveCursor.js'
import {crashAndRestart, redisAvailable, tagsInSlots} from '../../support/redisCluster.js'
import {inProcessApplyOf, useRedisCluster} from '../../support/redisTestFile.js'
import {countAt, openSlotByHand, poll, slotServedBy, writeTagged} from '../../support/redisFailover.js'

/**
 * Hunt (s35, redis): a source redis-server that crashes while one of its slots is open
 * (MIGRATING, some keys already migrated) and restarts from an RDB snapshot taken before the
 * migration. Its nodes.conf brings it back owning the slot, still MIGRATING; the snapshot brings
 * back the keys it had already migrated, as they were before. Losing what it had not saved is
 * Redis's own behaviour; but the migrated keys live on the target, which never crashed, and
 * clients kept writing them there (ASK). Finishing the slot with `MIGRATE ... REPLACE` (the
 * runner, and `redis fix` when no failover happened) overwrote those acknowledged writes with
 * the snapshot's older copies: shardctl turning one node's crash into a loss on a healthy one.
 * Real redis-server processes; the snapshot is an explicit SAVE, the crash a SIGKILL.
 */

const available = await redisAvailable()
const file = useRedisCluster('redis-source-restart', available, {masters: 3, replicasPerMaster: 0, slotsPerShard: 128})
const apply = inProcessApplyOf(file)

/** save snapshots `address`'s data to its dump.rdb (loaded again when it restarts). */
const save = (address: string) => withRedisNode(address, (r) => r.call('SAVE'))

/** keysAt lists the keys of `slot` the node at `address` holds. */
const keysAt = (address: string, slot: number) => withRedisNode(address, async (r) => (await r.call('CLUSTER', 'GETKEYSINSLOT', String(slot), '1000')) as string[])

/** copiesOn reads `keys` on the node at `address` itself (ASKING first: it may import their slot), null for a key it does not hold. */
const copiesOn = (address: string, keys: readonly string[]) =>
  withRedisNode(address, async (r) => {
    const out: (string | null)[] = []
    for (const k of keys) {
      await r.call('ASKING')
      out.push(await r.get(k))
    }
    return out
  })

/** runIdAt is the run_id (INFO server) of the redis-server at `address`. */
const runIdAt = (address: string) => withRedisNode(address, async (r) => /^run_id:(\w+)/m.exec(String(await r.call('INFO', 'server')))![1]!)

/** restartSource crashes the master at `address` and waits until it holds the `keys` keys of `slot` its snapshot had. */
async function restartSource(address: string, slot: number, keys: number): Promise<void> {
  await crashAndRestart(file.redis, address)
  await poll(`${address} to hold its snapshot's keys of slot ${slot}`, async () => ((await countAt(address, slot)) === keys ? true : undefined), 20_000)
}

describe.skipIf(!available)('a source restarted from an older snapshot while its slot is open', () => {
  // Session 42: the restart was judged (no slot open on the source: nothing of it migrated before, so no stale copies), but
  // the check stayed pending, so every cursor the run wrote kept the old run_id: a later resume took the source for
  // restarted again, and re-judged a restart already judged (and `unchecked` and `restarted` differed for no reason).
  it('a source restarted between two slots (none open on it): the check ends at the first slot, and the cursors name its new run_id from then on', async () => {
    const {shard, from: src, to: dst, first, end} = await file.shardToMove(4)
    // Keys in the first slot and in one later: the first goes through the check, the later one's cursor is recorded first.
    const tags = tagsInSlots(first, end, 12, 'bt')
    for (const t of [tags[0]!, tags.at(-1)!]) await writeTagged(file.client, t.tag, 20)
    const recorded = await file.recordPendingMove('restart-between', shard, src, dst)
    const cursor = formatMoveCursor({dir: 'fwd', next: first, open: false, srcRun: 'f'.repeat(40), dstRun: await runIdAt(dst.address)})
    await file.ctx.store.put(file.ctx.keys.move(recorded.id), JSON.stringify({...recorded, phase: 'copying', copyStartedAt: Date.now(), progress: {...recorded.progress, cursor}}))
    // The cursors the run records, read as it runs.
    const seen: {next: number; srcRun?: string}[] = []
    let running = true
    const watcher = (async () => {
      while (running) {
        const c = parseMoveCursor((await getMove(file.ctx, 'restart-between')).value.progress.cursor)
        // Past the first keyed slot (checked there; the cursor recorded before it still names the old run_id, as it should)
        // and naming a run_id (the one left at `done` is the cursor as held in memory, which names none).
        if (c && c.next > tags[0]!.slot && c.srcRun !== undefined) seen.push({next: c.next, srcRun: c.srcRun})
        await new Promise((r) => setTimeout(r, 25))
      }
    })()
    // 20 keys a second, 2 a batch: the later slot's keys take about a second, its cursor recorded before.
    const result = await apply({redis: {keysPerBatch: 2, keysPerSec: 20}, sleepCapMs: 200}).finally(() => (running = false))
    await watcher
    expect(result.moves.find((m) => m.id === 'restart-between')?.phase).toBe('done')
    const srcRun = await runIdAt(src.address)
    expect(seen.length).toBeGreaterThan(0)
    expect(seen.filter((c) => c.srcRun !== srcRun)).toEqual([])
  }, 90_000)

  it('redis fix does not overwrite the target\'s newer copies with the snapshot\'s', async () => {
    // Not the first master: the second test moves one of its shards.
    const [src, dst] = [file.masters[2]!, file.masters[1]!]
    const {tag, slot} = await slotServedBy(src, 'fx')
    const keys = await writeTagged(file.client, tag, 20)
    await save(src.address)
    await openSlotByHand(src, dst, slot, 10)
    const migrated = await keysAt(dst.address, slot)
    expect(migrated).toHaveLength(10)
    for (const k of migrated) expect(await file.client.set(k, `${k}=2`)).toBe('OK') // through ASK, on the target
    await restartSource(src.address, slot, 20)

    const refused = await fixOpenSlots(src.address, false).catch((err: Error) => err)
    // The target's copies (the only ones with the later writes) are intact: refused, naming them.
    expect(await copiesOn(dst.address, migrated)).toEqual(migrated.map((k) => `${k}=2`))
    expect(refused).toBeInstanceOf(Error)
    expect((refused as Error).message).toMatch(new RegExp(`slot ${slot}: 10 key\\(s\\) exist on both .*snapshot`))
    // The way out the refusal names: delete the source's copies, run it again.
    await withRedisNode(src.address, (r) => r.call('DEL', ...migrated))
    await fixOpenSlots(src.address, false)
    for (const k of keys) expect(await file.client.get(k)).toBe(migrated.includes(k) ? `${k}=2` : `${k}=1`)
  }, 60_000)

  it('the executor, retrying the move after the crash, does not migrate the snapshot\'s copies over the target\'s', async () => {
    const {shard, from: src, to: dst, first, end} = await file.shardToMove(1)
    const {tag, slot} = tagsInSlots(first, end, 1, 'rn')[0]!
    const keys = await writeTagged(file.client, tag, 20)
    await save(src.address)
    await file.recordPendingMove('restart-1', shard, src, dst)
    // 4 keys a second, 2 a batch: the source crashes with the slot open and some of its keys on the target.
    const run = apply({redis: {keysPerBatch: 2, keysPerSec: 4}, sleepCapMs: 200})
    await poll('some keys migrated', async () => ((await countAt(dst.address, slot)) >= 6 ? true : undefined), 30_000)
    const migrated = await keysAt(dst.address, slot)
    for (const k of migrated) expect(await file.client.set(k, `${k}=2`)).toBe('OK') // through ASK, on the target
    await crashAndRestart(file.redis, src.address)
    const result = await run // the executor retries the failed run, which resumes the open slot
    // The target's copies (the only ones with the later writes) are intact; the move stopped, naming the keys.
    expect(await copiesOn(dst.address, migrated)).toEqual(migrated.map((k) => `${k}=2`))
    const move = result.moves.find((m) => m.id === 'restart-1')!
    expect(move.phase).toBe('failed')
    // The listing above may have been one batch behind the crash: every key the target holds is on both sides.
    const onTarget = await keysAt(dst.address, slot)
    expect(move.reason).toMatch(new RegExp(`restarted while slot ${slot} was open and holds ${onTarget.length} key\\(s\\)`))
    // And the restart itself is on the record: without appendonly, what the source had not saved is lost (moveSideRestart.ts).
    expect(move.warnings.map((w) => [w.mayHaveLostData, w.text])).toEqual([[true, expect.stringMatching(new RegExp(`^move restart-1: ${src.node} \\(its source, ${src.address}\\) restarted while the move ran .* without appendonly`))]])
    // The way out it names: delete the source's copies, resume.
    await withRedisNode(src.address, (r) => r.call('DEL', ...onTarget))
    expect((await apply({redis: {keysPerBatch: 100}})).moves.find((m) => m.id === 'restart-1')?.phase).toBe('done')
    for (const k of keys) expect(await file.client.get(k), k).toBe(migrated.includes(k) ? `${k}=2` : `${k}=1`)
  }, 90_000)

  it('a record of a build before run_ids were kept, its source restarted from an older snapshot since the copy began (by its uptime): the snapshot\'s copies are not migrated over the target\'s either', async () => {
    const {shard, from: src, to: dst, first} = await file.shardToMove(2)
    const {tag, slot} = tagsInSlots(first, first + 1, 1, 'or')[0]!
    const keys = await writeTagged(file.client, tag, 20)
    await save(src.address)
    const copyStartedAt = Date.now()
    await openSlotByHand(src, dst, slot, 10)
    const migrated = await keysAt(dst.address, slot)
    for (const k of migrated) expect(await file.client.set(k, `${k}=2`)).toBe('OK') // through ASK, on the target
    // As the oldest builds wrote it: no run_id at all.
    const recorded = await file.recordPendingMove('restart-old-record', shard, src, dst)
    await file.ctx.store.put(file.ctx.keys.move(recorded.id), JSON.stringify({...recorded, phase: 'copying', copyStartedAt, progress: {...recorded.progress, cursor: JSON.stringify({dir: 'fwd', next: slot, open: true})}}))
    // Well after the copy's start (its uptime is in whole seconds: see unrecordedSides).
    await new Promise((r) => setTimeout(r, Math.max(0, copyStartedAt + 2500 - Date.now())))
    await restartSource(src.address, slot, 20)
    const result = await apply({sleepCapMs: 200})
    // Before: the restart was told by uptime, but the slot was finished with REPLACE: the target's copies were the snapshot's (=1).
    expect(await copiesOn(dst.address, migrated)).toEqual(migrated.map((k) => `${k}=2`))
    const move = result.moves.find((m) => m.id === 'restart-old-record')!
    expect(move.phase).toBe('failed')
    expect(move.reason).toMatch(new RegExp(`restarted while slot ${slot} was open and holds ${migrated.length} key\\(s\\)`))
    expect(move.warnings.filter((w) => w.mayHaveLostData).map((w) => [w.node, w.text])).toEqual([[src.node, expect.stringMatching(/restarted while the move ran \(started \d+ s ago, after the move began, by its uptime/)]])
    // The target (no run_id either, up since the cluster started, maybe within minutes of the copy's start) is at most told as a window.
    for (const w of move.warnings.filter((w) => !w.mayHaveLostData)) expect(w).toMatchObject({node: dst.node, key: expect.stringMatching(/^unchecked:/)})
    await withRedisNode(src.address, (r) => r.call('DEL', ...migrated))
    expect((await apply({redis: {keysPerBatch: 100}})).moves.find((m) => m.id === 'restart-old-record')?.phase).toBe('done')
    for (const k of keys) expect(await file.client.get(k), k).toBe(migrated.includes(k) ? `${k}=2` : `${k}=1`)
  }, 90_000)

  it('a record of a build before run_ids were kept and without the copy\'s start, its source restart unjudgeable: the slot is held, not finished with REPLACE, until the operator decides', async () => {
    const {shard, from: src, to: dst, first} = await file.shardToMove(3)
    const {tag, slot} = tagsInSlots(first, first + 1, 1, 'un')[0]!
    const keys = await writeTagged(file.client, tag, 20)
    await save(src.address)
    await openSlotByHand(src, dst, slot, 10)
    const migrated = await keysAt(dst.address, slot)
    for (const k of migrated) expect(await file.client.set(k, `${k}=2`)).toBe('OK') // through ASK, on the target
    // As the oldest builds wrote it: no run_id, no copy start; so whether the source restarted since cannot be judged (unchecked).
    const recorded = await file.recordPendingMove('restart-unchecked', shard, src, dst)
    await file.ctx.store.put(file.ctx.keys.move(recorded.id), JSON.stringify({...recorded, phase: 'copying', copyStartedAt: null, progress: {...recorded.progress, cursor: JSON.stringify({dir: 'fwd', next: slot, open: true})}}))
    await restartSource(src.address, slot, 20)
    const result = await apply({sleepCapMs: 200})
    // Before: the slot was finished with REPLACE, the target's newer copies overwritten with the snapshot's (=1).
    expect(await copiesOn(dst.address, migrated)).toEqual(migrated.map((k) => `${k}=2`))
    expect(await countAt(src.address, slot)).toBe(20) // nothing of the slot migrated: held open
    const move = result.moves.find((m) => m.id === 'restart-unchecked')!
    expect(move.phase).toBe('failed')
    expect(move.reason).toMatch(new RegExp(`slot ${slot} is held open: .* both hold ${migrated.length} key\\(s\\)`))
    // Held with a warning that reports no loss and names both ways out, `moves ack` among them.
    const held = move.warnings.filter((w) => w.key.startsWith('held:'))
    expect(held.map((w) => [w.node, w.mayHaveLostData])).toEqual([[src.node, false]])
    expect(held[0]!.text).toMatch(/DEL each listed key on .*`shardctl moves ack restart-unchecked`/)
    // A run again holds it again: the hold does not lapse once the run recorded the run_ids.
    expect((await apply({sleepCapMs: 200})).moves.find((m) => m.id === 'restart-unchecked')?.phase).toBe('failed')
    expect(await copiesOn(dst.address, migrated)).toEqual(migrated.map((k) => `${k}=2`))
    // The operator checked and keeps the source's copies: acknowledged, the next run finishes the slot with REPLACE.
    expect((await acknowledgeWarnings(file.ctx, 'restart-unchecked')).acknowledged).toBeGreaterThan(0)
    expect((await apply({redis: {keysPerBatch: 100}})).moves.find((m) => m.id === 'restart-unchecked')?.phase).toBe('done')
    for (const k of keys) expect(await file.client.get(k), k).toBe(`${k}=1`)
  }, 90_000)
})
