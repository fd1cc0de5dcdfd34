import {describe, expect, it} from 'vitest'
import {formatHlc} from '../../../src/model/hlc.js'
import {expireDeadExecutorLock} from '../../support/deadExecutorLock.js'
import {keyFor, waitFor} from '../router/dataPlane.js'
import {faultEnv, phaseKillSuite} from './phaseKillWorld.js'

/**
 * A copy with the move's source down reads the other old voters (liveCopySources.ts); one up on a replaced data dir lost
 * what it acknowledged (session 42). rf 3 at w = 2, shard on a, b, c moved from a to d. Stopped just after `copying` was
 * recorded (the copy's start records b's and c's claims), a write acknowledged by a and b (put on those two here, as the
 * router's acks would be) is on them alone. b restarts on an empty dir (--accept-empty-data) and a dies. Until session 42
 * the executor copied from b and c, verified d against them, cut over and ended `done`: d never held the write, and a's
 * copy (the last one) was left to the orphan sweep. Now the copy waits for a, naming b, and with a back the write is on d.
 */

const suite = phaseKillSuite('copy-replaced', {nodes: 4, rf: 3})

describe('a copy source on a replaced data dir, on real processes', {timeout: 240_000}, () => {
  it('Given a write acked by the source and one old voter at w = 2, When that voter restarts empty and the source dies while copying, Then the copy waits for the source and the write reaches the destination', async () => {
    const world = suite.world
    const {shard, to} = await world.moveTarget(0)
    const from = shard.replicas[0]!.node
    const [b, c] = shard.replicas.filter((r) => r.node !== from).map((r) => r.node) as [string, string]
    const move = await world.recordMove('copy-replaced', shard, to)

    const atCopy = world.apply(faultEnv({when: 'after', phase: 'copying'}, 'stop'))
    await world.waitStopped(atCopy, 'after copying')
    await atCopy.kill()
    const stored = (await world.moveOf(move.id))!
    expect(Object.keys(stored.copyDirs ?? {}).sort()).toEqual([b, c].sort())
    const joint = (await world.dp.shards()).find((s) => s.id === shard.id)!
    const key = keyFor(joint, 'acked-by-a-b')
    const record = {key: Buffer.from(key), version: formatHlc({wall: Date.now(), counter: 0, writer: 'copy-replaced-test'}), value: Buffer.from('acked')}
    for (const n of [from, b]) await world.dp.client(n).apply(joint.id, joint.epoch, [record])

    // b on a replaced, empty dir: it lost the write. a down (its dir kept).
    await world.dp.nodes[b]!.kill()
    world.dp.dataDirs[b] = suite.emptyDir('shardctl-copy-replaced-b-')
    await world.dp.startNode(b, undefined, ['--accept-empty-data'])
    await world.dp.nodes[from]!.kill()
    await world.leaseGone(from)

    await expireDeadExecutorLock(world.dp.ctx)
    const exec = world.apply()
    try {
      // The copy waits for a, naming b (until session 42 it copied from b and c and the move ended `done`).
      await waitFor(async () => {
        const m = await world.moveOf(move.id)
        if (m && ['done', 'failed', 'aborted', 'cutover', 'release', 'draining', 'cleanup'].includes(m.phase)) throw new Error(`the move went on to ${m.phase} without its source: ${(exec.stdout() + exec.logs()).slice(-3000)}`)
        return (exec.stdout() + exec.logs()).includes(`${b} serves another data dir than when the copy began`) ? true : undefined
      }, 'the copy to wait for the source, naming the replaced voter', 90_000)

      await world.dp.startNode(from)
      const ended = await waitFor(async () => {
        const m = await world.moveOf(move.id)
        return m && ['done', 'failed', 'aborted'].includes(m.phase) ? m : undefined
      }, 'the move to end', 120_000).catch((err: Error) => {
        throw new Error(`${err.message}: ${(exec.stdout() + exec.logs()).slice(-3000)}`)
      })
      const after = (await world.dp.shards()).find((s) => s.id === shard.id)!
      // Done: d holds it. Aborted after its retries (the source down too long under load): a, back in the old set, does.
      const holder = ended.phase === 'done' ? to : from
      expect(['done', 'aborted']).toContain(ended.phase)
      expect((await world.dp.client(holder).get(after.id, after.epoch, key)).record?.value?.toString()).toBe('acked')
    } finally {
      await exec.kill()
    }
  })
})
