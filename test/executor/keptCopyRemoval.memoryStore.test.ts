import {describe, expect, it} from 'vitest'
import {removeNode} from '../../src/cluster/nodeService.js'
import {UserError} from '../../src/errors/errors.js'
import {type ExecutorEnv} from '../../src/executor/executorEnv.js'
import {nodeMoveEffects} from '../../src/executor/moveEffects.js'
import {runMove} from '../../src/executor/moveRunner.js'
import {getMove, readShard} from '../../src/executor/moveStore.js'
import {lossWarnings, type Move} from '../../src/model/move.js'
import {type NodeClient} from '../../src/node/nodeClient.js'
import {recordWriteQuorum} from '../../src/router/writeFloorRecord.js'
import {markNodesAlive, sleepBoundedEnv, sourceDownWorld, storedMoveUnderLock} from './fixtures.js'

/**
 * Session 42: `node remove` of a move's destination whose copy the move keeps outside the map (an abort, or a rollback's
 * last step, at w = 1 with the source down: destinationCopyKeep.ts) before any repair from it is recorded. Until then the
 * removal went through (the node held no replica) and the move ended `rolledback` or `aborted` without a word, while the
 * copy may have been the only one up of an acknowledged write. Now the removal is refused, naming the move, unless
 * `--accept-data-loss`; then the move ends with a `kept-copy:` loss warning. The real runMove and move machine on the
 * memory store.
 */

const STOP_AFTER_SLEEPS = 40

/**
 * rolledBackWithoutDestination: one shard at rf 3 whose move rolls back (`rb-cutover`, the source a voter again) with the
 * destination already out of the map; a router that ran with write quorum `w` recorded (1, or null: majority); the
 * source up or down as `sourceUp` says, the destination and the staying voters up.
 */
async function rolledBackWithoutDestination(w: number | null, sourceUp: boolean) {
  const world = await sourceDownWorld(3, 'rb-cutover', (initial, from) => ({...initial, epoch: initial.epoch + 4, replicas: initial.replicas.map((r) => (r.node === from ? {node: from, role: 'voter' as const} : r))}), {alive: ({to, others}) => [to, ...others]})
  const {store, ctx, to, from} = world
  await recordWriteQuorum(ctx, {id: w === null ? 'r-majority' : 'r-gone', w})
  if (sourceUp) await markNodesAlive(ctx, [from])
  await store.put(ctx.keys.claim(to), JSON.stringify({node: to, dataDirId: 'dir-to', instance: 'i1'}))
  await store.put(ctx.keys.claim(from), JSON.stringify({node: from, dataDirId: 'dir-src', instance: 'i1'}))
  const move: Move = {...world.move, id: 'm1', cutoverAt: new Date(world.clock.now).toISOString(), copyStartedAt: 1, verifiedDirs: {[to]: 'dir-to/i1', [from]: 'dir-src/i1'}}
  const fence = await storedMoveUnderLock(ctx, move)
  const dropped: string[] = []
  const run = async (): Promise<Move> => {
    const env: ExecutorEnv = {
      ...sleepBoundedEnv(world.env, world.clock, fence, STOP_AFTER_SLEEPS),
      client: async (node) =>
        ({
          ...(await world.env.client(node)),
          drop: async () => {
            dropped.push(node)
            return {deleted: 0}
          },
          accept: async (_shard: number, epoch: number) => ({epoch}),
        }) as unknown as NodeClient,
    }
    env.effects = nodeMoveEffects(env, async (_e, m) => m)
    return (await runMove(env, await getMove(ctx, move.id))).value
  }
  return {...world, move, dropped, run}
}

const refusal = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e)

describe("node remove of a destination whose copy an unfinished move keeps (session 42)", () => {
  it('Given a rollback at w = 1 with the source down and no repair recorded, When its destination is removed, Then it is refused in one line naming the move (PRECONDITION, exit 1), changing nothing', async () => {
    const s = await rolledBackWithoutDestination(1, false)
    expect((await readShard(s.ctx, s.move.shard))!.value.replicas.some((r) => r.node === s.to)).toBe(false)
    const before = await s.store.get(s.ctx.keys.node(s.to))
    const err = await refusal(removeNode(s.ctx, s.to))
    expect(err).toBeInstanceOf(UserError)
    expect((err as UserError).code).toBe('PRECONDITION')
    expect((err as UserError).message).toContain(`destination of move ${s.move.id} (rb-cutover`)
    expect((err as UserError).message).not.toContain('\n')
    expect((err as UserError).hint).toContain(`shardctl node remove ${s.to} --accept-data-loss`)
    expect((await s.store.get(s.ctx.keys.node(s.to)))!.modRevision).toBe(before!.modRevision)
  })

  it('Given the same with the destination down, Then the move waits for it and its recorded wait names the way out for a destination gone for good', async () => {
    const s = await rolledBackWithoutDestination(1, false)
    await s.store.delete(s.ctx.keys.alive(s.to))
    const m = await s.run()
    expect(m.phase).toBe('rb-cutover')
    expect(m.waitingFor?.text).toContain(`shardctl node remove ${s.to} --accept-data-loss`)
  })

  it('Given the same, When it is removed with --accept-data-loss, Then the move ends rolled back with a kept-copy loss warning', async () => {
    const s = await rolledBackWithoutDestination(1, false)
    const r = await removeNode(s.ctx, s.to, {acceptDataLoss: true})
    expect(r.changed).toBe(true)
    expect(r.message).toContain(`move(s) ${s.move.id} kept its copy`)
    const m = await s.run()
    expect(m.phase).toBe('rolledback')
    expect(lossWarnings(m).map((w) => w.key)).toEqual([`kept-copy:${s.to}:removed:dir-to/i1`])
    expect(s.dropped).toEqual([])
  })

  it.each([
    {given: 'only majority routers ever (the copy is not kept)', w: null, sourceUp: false},
    {given: 'w = 1 with the source up on its compared dir (it holds every write the copy was kept for)', w: 1, sourceUp: true},
  ])('Given a rollback with $given, When the destination is removed with --accept-data-loss, Then the move ends without a warning', async ({w, sourceUp}) => {
    const s = await rolledBackWithoutDestination(w, sourceUp)
    await removeNode(s.ctx, s.to, {acceptDataLoss: true})
    const m = await s.run()
    expect(m.phase).toBe('rolledback')
    expect(m.warnings ?? []).toEqual([])
  })

  it('Given a repair from the copy already recorded, Then the destination is removed without the flag (the voters hold what the copy held)', async () => {
    const s = await rolledBackWithoutDestination(1, false)
    const repaired = {state: 'repaired' as const, at: new Date(0).toISOString(), voters: [...s.others].sort(), records: 0, dirs: {[s.to]: 'dir-to/i1'}, copyDir: 'dir-to/i1', copyReplaced: false}
    await s.store.put(s.ctx.keys.move(s.move.id), JSON.stringify({...s.move, keptCopyRepair: repaired}))
    expect((await removeNode(s.ctx, s.to)).changed).toBe(true)
    const m = await s.run()
    expect(m.phase).toBe('rolledback')
    expect(m.warnings ?? []).toEqual([])
  })
})
