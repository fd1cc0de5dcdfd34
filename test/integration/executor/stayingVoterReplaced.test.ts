import {describe, expect, it} from 'vitest'
import {formatHlc} from '../../../src/model/hlc.js'
import {expireDeadExecutorLock} from '../../support/deadExecutorLock.js'
import {keyFor, kv, waitFor} from '../router/dataPlane.js'
import {faultEnv, phaseKillSuite} from './phaseKillWorld.js'

/**
 * A staying voter restarted on a replaced data dir no longer holds what it acknowledged (moveMachine.ts
 * stayingVotersEnough, session 42). rf 3 at w = 2 (the world's routers: a majority), shard on a, b, c moved from a to d.
 * Before cutover a write is acknowledged by the joint quorum a, b, d (two of the old set, two of the new; put on those
 * three here, as the router's acks would be), c never had it. Stopped in `cleanup` before the source's drop, b is
 * restarted on an empty dir (--accept-empty-data) and d killed. Until session 42 the executor counted b, up, as holding
 * every acknowledged write, dropped a's copy with d down and ended the move `done`; d back on an empty dir then held
 * nothing of the write, which no node had any more. Now a's copy is kept while d is down, and d back on an empty dir is
 * refilled from it: the write is read back.
 */

const suite = phaseKillSuite('staying-replaced', {nodes: 4, rf: 3})
const emptyDir = (prefix: string) => suite.emptyDir(prefix)

describe('a staying voter on a replaced data dir, on real processes', {timeout: 240_000}, () => {
  it('Given a write acked by the source, a staying voter and the destination at w = 2, When that voter restarts empty and the destination is down in cleanup, Then the source\'s copy is kept and the write survives the destination back on an empty dir', async () => {
    const world = suite.world
    const {shard, to} = await world.moveTarget(0)
    const from = shard.replicas[0]!.node
    const [b, c] = shard.replicas.filter((r) => r.node !== from).map((r) => r.node) as [string, string]
    const move = await world.recordMove('staying-replaced', shard, to)

    const beforeCutover = world.apply(faultEnv({when: 'before', phase: 'cutover'}, 'stop'))
    await world.waitStopped(beforeCutover, 'before cutover')
    await beforeCutover.kill()
    const joint = (await world.dp.shards()).find((s) => s.id === shard.id)!
    const key = keyFor(joint, 'acked-by-a-b-d')
    const record = {key: Buffer.from(key), version: formatHlc({wall: Date.now(), counter: 0, writer: 'staying-replaced-test'}), value: Buffer.from('acked')}
    for (const n of [from, b, to]) await world.dp.client(n).apply(joint.id, joint.epoch, [record])
    expect((await world.dp.client(c).get(joint.id, joint.epoch, key)).record).toBeUndefined()

    // On to cleanup (the cutover records the staying voters' claims), stopped before the source's drop is recorded.
    await expireDeadExecutorLock(world.dp.ctx)
    const toCleanup = world.apply(faultEnv({when: 'after', phase: 'cleanup'}, 'stop'))
    await world.waitStopped(toCleanup, 'after cleanup')
    await toCleanup.kill()
    const stored = (await world.moveOf(move.id))!
    expect(stored.phase).toBe('cleanup')
    expect(Object.keys(stored.stayingDirs ?? {}).sort()).toEqual([b, c].sort())

    // b on a replaced, empty dir: it lost the write. d down.
    await world.dp.nodes[b]!.kill()
    world.dp.dataDirs[b] = emptyDir('shardctl-staying-b-')
    await world.dp.startNode(b, undefined, ['--accept-empty-data'])
    await world.dp.nodes[to]!.kill()
    await world.leaseGone(to)

    await expireDeadExecutorLock(world.dp.ctx)
    const exec = world.apply()
    try {
      // The move waits for d, keeping a's copy (until session 42 it dropped it and ended `done`).
      const waiting = await waitFor(async () => {
        const m = await world.moveOf(move.id)
        return m?.waitingFor || m?.phase === 'done' ? m : undefined
      }, 'the move to wait for the destination', 60_000)
      expect(waiting.phase, (exec.stdout() + exec.logs()).slice(-3000)).toBe('cleanup')
      expect(waiting.sourceDropSentAt ?? null).toBeNull()

      // d back on an empty dir: refilled from a's whole copy.
      world.dp.dataDirs[to] = emptyDir('shardctl-staying-d-')
      await world.dp.startNode(to, undefined, ['--accept-empty-data'])
      const ended = await waitFor(async () => {
        const m = await world.moveOf(move.id)
        return m && ['done', 'failed'].includes(m.phase) ? m : undefined
      }, 'the move to end', 120_000).catch((err: Error) => {
        throw new Error(`${err.message}: ${(exec.stdout() + exec.logs()).slice(-3000)}`)
      })
      expect(ended.phase).toBe('done')
    } finally {
      await exec.kill()
    }
    const after = (await world.dp.shards()).find((s) => s.id === shard.id)!
    expect((await world.dp.client(to).get(after.id, after.epoch, key)).record?.value?.toString()).toBe('acked')
    // b (empty) and c never held it: a quorum read of two may ask just them until anti-entropy gives it back from d.
    const repaired = await suite.cli(['repair', '--shard', String(after.id)])
    expect(repaired.code, repaired.stderr).toBe(0)
    for (const r of world.routers) {
      const got = await waitFor(async () => {
        const res = await kv(r.address, 'GET', key).catch(() => undefined)
        return res && (res.status === 200 || res.status === 404) ? res : undefined
      }, `a read of ${key} through ${r.address}`)
      expect(got.status).toBe(200)
      expect(got.body.toString()).toBe('acked')
    }
  })
})
