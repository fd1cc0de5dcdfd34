import {describe, expect, it} from 'vitest'
import {expireDeadExecutorLock} from '../../support/deadExecutorLock.js'
import {kv, waitFor} from '../router/dataPlane.js'
import {faultEnv, w1Suite} from './phaseKillWorld.js'

/**
 * A move whose source is gone for good, at w = 1, on real processes (docs/moves.md, "A destination's copy with the source
 * down"). rf 3 and a `--w 1` router (the cluster's write floor: 1). During the move a write is acknowledged by the source
 * and the destination alone (the joint quorum at w = 1: one of the old set, one of the new; put on those two nodes here,
 * as the router's two acks would), then the source is SIGKILLed and its data dir removed (never back), and the move is
 * cancelled. Until session 40 the move waited in `aborting` for ever, keeping the destination's copy, the only one up of
 * that write (`moves abandon-source` refuses a move not cut over): no way out. Now the executor repairs the voters up from
 * the kept copy, drops it and ends the move `aborted`; the write is read back through the routers.
 */

const suite = w1Suite('w1-way')
const cli = (args: string[]) => suite.cli(args)

describe('a move whose source is gone for good at w = 1, on real processes', {timeout: 180_000}, () => {
  it('Given rf 3, a --w 1 router and a write acknowledged by the source and the destination alone, When the source is killed for good and the move cancelled, Then the move ends aborted and the write is read back', async () => {
    const w = suite.world
    const w1 = suite.w1
    const {shard, to} = await w.moveTarget(0)
    const from = shard.replicas[0]!.node
    const move = await w.recordMove('w1-way', shard, to)
    // Stopped right before cutover: the destination is joining (its answer counts in the joint quorum).
    const stopped = w.apply(faultEnv({when: 'before', phase: 'cutover'}, 'stop'))
    await w.waitStopped(stopped, 'before cutover')
    await stopped.kill()
    expect((await w.moveOf(move.id))?.phase).toBe('verifying')
    const now = (await w.dp.shards()).find((s) => s.id === shard.id)!
    expect(now.replicas.find((r) => r.node === to)?.role).toBe('joining')

    // The write: on the source and the destination, on no other voter.
    const {key, others} = await w.writeOnSourceAndDestination(now, from, to, 'w1-acked-by-src-and-dst', 'acked-by-src-and-dst')

    // The source dies for good: SIGKILL, its data dir gone; its lease expires.
    await w.killForGood(from)

    const cancel = await cli(['moves', 'cancel', move.id])
    expect(cancel.code, cancel.stderr).toBe(0)
    await expireDeadExecutorLock(w.dp.ctx)
    const exec = w.apply()
    try {
      const ended = await waitFor(async () => {
        const m = await w.moveOf(move.id)
        return m && ['aborted', 'failed'].includes(m.phase) ? m : undefined
      }, 'the move to end', 90_000).catch((err: Error) => {
        throw new Error(`${err.message}: ${(exec.stdout() + exec.logs()).slice(-3000)}`)
      })
      expect(ended.phase, (exec.stdout() + exec.logs()).slice(-3000)).toBe('aborted')
      expect(ended.reason).toContain(`repaired into ${[...others].sort().join(', ')}`)
    } finally {
      await exec.kill()
    }
    const after = (await w.dp.shards()).find((s) => s.id === shard.id)!
    expect(after.replicas.map((r) => r.node)).not.toContain(to)
    // Every voter up holds the write now, and every router reads it.
    for (const n of others) expect((await w.dp.client(n).get(after.id, after.epoch, key)).record?.value?.toString()).toBe('acked-by-src-and-dst')
    for (const r of [w1, ...w.routers]) {
      const got = await waitFor(async () => {
        const res = await kv(r.address, 'GET', key).catch(() => undefined)
        return res && (res.status === 200 || res.status === 404) ? res : undefined
      }, `a read of ${key} through ${r.address}`)
      expect(got.status).toBe(200)
      expect(got.body.toString()).toBe('acked-by-src-and-dst')
    }
  })
})
