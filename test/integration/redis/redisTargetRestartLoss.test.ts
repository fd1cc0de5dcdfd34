import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {clusterStatus} from '../../../src/cluster/clusterStatus.js'
import {applyOutcome} from '../../../src/cli/runOutcome.js'
import {type ExecutorEvent} from '../../../src/executor/executorEnv.js'
import {showMove} from '../../../src/executor/moveViews.js'
import {withRedisNode} from '../../../src/redis/redisConnection.js'
import {crashAndRestart, moveSlotByHand, openSlotMarks, redisAvailable, servedSlots, tagsInSlots} from '../../support/redisCluster.js'
import {countAt, poll} from '../../support/redisFailover.js'
import {inProcessApplyOf, useRedisCluster} from '../../support/redisTestFile.js'
import {runCli} from '../../support/runCli.js'

/**
 * The target of a move SIGKILLed mid-slot and restarted WITHOUT persistence (the test clusters'
 * `--save "" --appendonly no`): its nodes.conf brings it back owning the slots already moved and
 * IMPORTING the open one, but empty. The keys migrated to it are lost: Redis's own loss, which
 * shardctl cannot undo. Before, the executor's retried run finished the move and recorded it
 * `done` with nothing said (the cursor named only the source's run_id): the operator learnt of
 * the loss from clients. Now the move carries a warning naming the target, the run_ids and the
 * slots it held, `moves show` prints it, an event tells it, and apply's outcome is
 * POSSIBLE_DATA_LOSS; the keys still on the source at the crash are all moved, none dropped.
 */

const available = await redisAvailable()
const file = useRedisCluster('redis-target-restart-loss', available, {masters: 3, replicasPerMaster: 0, slotsPerShard: 128})
const apply = inProcessApplyOf(file)
let cwd: string
beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-target-loss-'))
})
afterAll(() => {
  if (cwd) rmSync(cwd, {recursive: true, force: true})
})
const cli = (args: string[]) => runCli([...args, '--endpoints', inject('etcdEndpoint'), '--cluster', file.ctx.cluster], {cwd, timeoutMs: 60_000})

describe.skipIf(!available)('the target restarted without persistence mid-move', () => {
  it('the move says the target restarted and may have lost keys, and moves every key still on the source', async () => {
    const {shard, from, to, first, end} = await file.shardToMove(1)
    const tags = tagsInSlots(first, end, 10, 'tl')
    const keysOf = (tag: string) => Array.from({length: 10}, (_, j) => `{${tag}}:${j}`)
    await Promise.all(tags.flatMap(({tag}) => keysOf(tag)).map((k) => file.client.set(k, `${k}=0`)))
    await file.recordPendingMove('target-loss', shard, from, to)
    const events: ExecutorEvent[] = []
    // 10 keys a second, 2 a batch: about a second a slot, so the crash lands with slot 2 of 10 open and later slots untouched.
    const run = apply({redis: {keysPerBatch: 2, keysPerSec: 10}, sleepCapMs: 200, emit: (e) => events.push(e)})
    const mid = tags[2]!.slot
    await poll('a slot half-migrated', async () => ((await countAt(to.address, mid)) > 0 ? true : undefined), 30_000)
    await crashAndRestart(file.redis, to.address)
    const result = await run
    const move = result.moves.find((m) => m.id === 'target-loss')!
    // The layout is as planned: the move ran to its end.
    expect(move.phase, JSON.stringify(events.filter((e) => e.type === 'retry' || e.type === 'phase'))).toBe('done')
    expect(await openSlotMarks(file.masters)).toEqual([])
    const served = await servedSlots(to)
    expect(Array.from({length: end - first}, (_, i) => first + i).filter((s) => !served.has(s))).toEqual([])
    // ... but not silently: the record, `moves show`, the events and the exit status say the target restarted without persistence.
    expect(move.warnings).toHaveLength(1)
    expect(move.warnings[0]).toMatchObject({mayHaveLostData: true})
    expect(move.warnings[0]!.text).toMatch(new RegExp(`${to.node} \\(its target, ${to.address}\\) restarted while the move ran .* without appendonly`))
    expect(move.warnings[0]!.text).toMatch(new RegExp(`slots ${first}-\\d+`))
    expect((await showMove(file.ctx, 'target-loss')).warnings?.map((w) => w.text)).toEqual([move.warnings[0]!.text])
    expect(events.some((e) => e.type === 'info' && e.message === `warning: ${move.warnings[0]!.text}`)).toBe(true)
    expect(applyOutcome(result).code).toBe('POSSIBLE_DATA_LOSS')
    // Every key still on the source at the crash (the slots after the open one) was moved, none dropped.
    for (const {tag} of tags.slice(4)) for (const k of keysOf(tag)) expect(await file.client.get(k), k).toBe(`${k}=0`)
  }, 90_000)

  it('a cursor behind the slots the target took (empty slots pass without a record each) does not narrow the warning: every slot of the move the target served is named', async () => {
    const {shard, from, to, first, end} = await file.shardToMove(2)
    // As a run leaves it mid-batch: the cursor recorded at the batch's first slot (open), while
    // the target took the batch's first 6 slots (empty when moved; clients wrote to them since).
    for (let slot = first; slot < first + 6; slot++) await moveSlotByHand(file.masters, slot, from, to)
    const written = tagsInSlots(first, first + 6, 6, 'lag')
    await Promise.all(written.map(({tag}) => file.client.set(`{${tag}}:k`, 'v')))
    const run = (address: string) => withRedisNode(address, async (r) => /^run_id:(\w+)/m.exec(String(await r.call('INFO', 'server')))![1]!)
    const recorded = await file.recordPendingMove('target-loss-lag', shard, from, to)
    const cursor = JSON.stringify({dir: 'fwd', next: first, open: true, srcRun: await run(from.address), dstRun: await run(to.address)})
    await file.ctx.store.put(file.ctx.keys.move(recorded.id), JSON.stringify({...recorded, phase: 'copying', copyStartedAt: Date.now(), progress: {...recorded.progress, cursor}}))
    await crashAndRestart(file.redis, to.address)
    const result = await apply({sleepCapMs: 200})
    const move = result.moves.find((m) => m.id === 'target-loss-lag')!
    expect(move.phase).toBe('done')
    expect(move.warnings).toHaveLength(1)
    expect(move.warnings[0]).toMatchObject({mayHaveLostData: true, node: to.node})
    // Before: `the keys of slot ${first} it held` (the cursor's slot only).
    expect(move.warnings[0]!.text).toContain(`the keys of slots ${first}-${first + 5} it held`)
    expect(applyOutcome(result).code).toBe('POSSIBLE_DATA_LOSS')
    expect([...(await servedSlots(to))].filter((s) => s >= first && s < end)).toHaveLength(end - first)
  }, 90_000)

  it('an older record resumed by an executor whose clock is 2 minutes behind the one that began the copy does not take a target restarted since for one started before: the window is told', async () => {
    const {shard, from, to, first} = await file.shardToMove(4)
    const copyStartedAt = Date.now()
    for (let slot = first; slot < first + 2; slot++) await moveSlotByHand(file.masters, slot, from, to)
    const run = (address: string) => withRedisNode(address, async (r) => /^run_id:(\w+)/m.exec(String(await r.call('INFO', 'server')))![1]!)
    const recorded = await file.recordPendingMove('target-loss-skewed', shard, from, to)
    const cursor = JSON.stringify({dir: 'fwd', next: first, open: true, srcRun: await run(from.address)})
    await file.ctx.store.put(file.ctx.keys.move(recorded.id), JSON.stringify({...recorded, phase: 'copying', copyStartedAt, progress: {...recorded.progress, cursor}}))
    await new Promise((r) => setTimeout(r, 2500))
    await crashAndRestart(file.redis, to.address)
    // The executor that resumes runs on a host whose clock is 120 s behind the first's.
    const result = await apply({sleepCapMs: 200, clockSkewMs: -120_000})
    const move = result.moves.find((m) => m.id === 'target-loss-skewed')!
    expect(move.phase).toBe('done')
    // Before: no warning (by the skewed clock the target started about 117 s before the copy began).
    expect(move.warnings).toHaveLength(1)
    expect(move.warnings[0]).toMatchObject({mayHaveLostData: false, node: to.node})
    expect(move.warnings[0]!.text).toMatch(new RegExp(`run_id of ${to.node} \\(its target, ${to.address}\\), so whether it restarted .* cannot be told for sure: by its uptime it started 11\\d s before the move's copy began, comparing this executor's clock with the one of the executor that began the copy .*: if that clock ran more than 11\\d s ahead of this one, it restarted while the move ran`))
  }, 90_000)

  it('`cluster status` lists each warned move as trouble (the moves ended `done`) until `moves ack`, which `moves show` then tells', async () => {
    // The moves the tests above ended `done` with a warning of possible data loss.
    const warned = ['target-loss', 'target-loss-lag']
    const status = await clusterStatus(file.ctx)
    expect(status.redis?.trouble).toBe(true)
    expect(status.redis?.dataLossWarnings.map((w) => [w.move, w.phase])).toEqual(warned.map((m) => [m, 'done']))
    const text = await cli(['cluster', 'status'])
    expect(text.code, text.stderr).toBe(0)
    for (const m of warned) expect(text.stdout).toMatch(new RegExp(`move ${m}: .* restarted while the move ran .*Way out: check the keys it names against your source of truth, then \`shardctl moves ack ${m}\``))
    const ack = await cli(['moves', 'ack', 'target-loss'])
    expect(ack.code, ack.stderr).toBe(0)
    expect(ack.stdout).toMatch(/move target-loss: 1 warning\(s\) of possible data loss acknowledged/)
    expect((await clusterStatus(file.ctx)).redis?.dataLossWarnings.map((w) => w.move)).toEqual(['target-loss-lag'])
    expect((await cli(['moves', 'show', 'target-loss'])).stdout).toMatch(/warning \([^)]*, acknowledged [^)]*\): move target-loss: /)
    // Again: nothing left, nothing written, exit 0; an unknown move is refused.
    expect((await cli(['moves', 'ack', 'target-loss'])).stdout).toMatch(/move target-loss has no unacknowledged warning/)
    expect((await cli(['moves', 'ack', 'no-such-move'])).code).toBe(1)
    expect((await cli(['moves', 'ack', 'target-loss-lag'])).code).toBe(0)
    const lossesAcked = await clusterStatus(file.ctx)
    expect(lossesAcked.redis?.dataLossWarnings).toEqual([])
    // The skewed move's warning reports no loss but waits for a check (whether its target restarted cannot be told): still
    // trouble, listed apart (session 41), until it is acknowledged too.
    expect(lossesAcked.redis?.checkWarnings?.map((w) => w.move)).toEqual(['target-loss-skewed'])
    expect(lossesAcked.redis?.trouble).toBe(true)
    expect((await cli(['cluster', 'status'])).stdout).toMatch(/not a loss, waiting for a check: .*run_id of /)
    expect((await cli(['moves', 'ack', 'target-loss-skewed'])).code).toBe(0)
    const after = await clusterStatus(file.ctx)
    expect(after.redis?.checkWarnings).toEqual([])
    expect(after.redis?.trouble).toBe(false)
  }, 90_000)

  it('a move resumed from a record of an older build (no dstRun) still tells a target restart since the move began, by the target\'s uptime', async () => {
    const {shard, from, to, first} = await file.shardToMove(3)
    const copyStartedAt = Date.now()
    for (let slot = first; slot < first + 3; slot++) await moveSlotByHand(file.masters, slot, from, to)
    await Promise.all(tagsInSlots(first, first + 3, 3, 'old').map(({tag}) => file.client.set(`{${tag}}:k`, 'v')))
    const run = (address: string) => withRedisNode(address, async (r) => /^run_id:(\w+)/m.exec(String(await r.call('INFO', 'server')))![1]!)
    const recorded = await file.recordPendingMove('target-loss-old-record', shard, from, to)
    // As a build before dstRun wrote it: the source's run_id only.
    const cursor = JSON.stringify({dir: 'fwd', next: first, open: true, srcRun: await run(from.address)})
    await file.ctx.store.put(file.ctx.keys.move(recorded.id), JSON.stringify({...recorded, phase: 'copying', copyStartedAt, progress: {...recorded.progress, cursor}}))
    // The restart must start well after the copy began: Redis's uptime is the difference of two
    // whole-second clocks (up to a second more than the time since the start), and the judgement
    // allows half a second more, so a restart within 1.5 s of the copy's start may go either way
    // (1 s here failed a CI run: the by-hand moves took no time).
    await new Promise((r) => setTimeout(r, 2500))
    await crashAndRestart(file.redis, to.address)
    const result = await apply({sleepCapMs: 200})
    const move = result.moves.find((m) => m.id === 'target-loss-old-record')!
    expect(move.phase).toBe('done')
    // Before: no warning at all (a cursor without dstRun compared nothing), and apply exited 0.
    expect(move.warnings).toHaveLength(1)
    expect(move.warnings[0]).toMatchObject({mayHaveLostData: true, node: to.node})
    expect(move.warnings[0]!.text).toMatch(new RegExp(`${to.node} \\(its target, ${to.address}\\) restarted while the move ran \\(started \\d+ s ago, after the move began, by its uptime: the record predates run_id tracking.* the keys of slots ${first}-${first + 2} it held`))
    expect(applyOutcome(result).code).toBe('POSSIBLE_DATA_LOSS')
  }, 90_000)
})
