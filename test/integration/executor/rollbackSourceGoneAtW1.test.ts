import {describe, expect, it} from 'vitest'
import {expireDeadExecutorLock} from '../../support/deadExecutorLock.js'
import {kv, waitFor} from '../router/dataPlane.js'
import {faultEnv, w1Suite} from './phaseKillWorld.js'

/**
 * A rollback whose source dies for good once the destination left the shard, at w = 1, on real processes (docs/moves.md,
 * "A destination's copy with the source down"). rf 3 and a `--w 1` router. The move cuts over and is rolled back; reads
 * flipped back (`rb-cutover`), a write is acknowledged by the source and the destination alone (the joint quorum at w = 1,
 * put on those two nodes here as the router's two acks would). The destination is frozen (SIGSTOP) so that the executor
 * removes it from the shard but cannot drop its copy; then the source is SIGKILLed and its data dir removed (never back),
 * and the destination thaws. The executor repairs the voters up from the destination's kept copy, drops it and ends the
 * move `rolledback`: the write, and every value of the fill, reads back through every router.
 */

const suite = w1Suite('rb-w1')
const cli = (args: string[]) => suite.cli(args)

describe('a rollback whose source is gone for good at w = 1, on real processes', {timeout: 240_000}, () => {
  it('Given rf 3, a --w 1 router and a write acknowledged by the source and the destination alone after reads flipped back, When the source is killed for good once the destination left the shard, Then the move ends rolledback and every acknowledged write reads back through every router', async () => {
    const w = suite.world
    const w1 = suite.w1
    const {shard, to} = await w.moveTarget(0)
    const from = shard.replicas[0]!.node
    const move = await w.recordMove('rb-w1', shard, to)
    // Cut over, then stopped; rolled back, then stopped again right after reads flipped back to the source.
    const cut = w.apply(faultEnv({when: 'after', phase: 'cutover'}, 'stop'))
    await w.waitStopped(cut, 'after cutover')
    await cut.kill()
    const rollback = await cli(['moves', 'rollback', move.id])
    expect(rollback.code, rollback.stderr).toBe(0)
    await expireDeadExecutorLock(w.dp.ctx)
    const flipped = w.apply(faultEnv({when: 'after', phase: 'rb-cutover'}, 'stop'))
    await w.waitStopped(flipped, 'after rb-cutover')
    await flipped.kill()
    expect((await w.moveOf(move.id))?.phase).toBe('rb-cutover')
    const now = (await w.dp.shards()).find((s) => s.id === shard.id)!
    expect(now.replicas.find((r) => r.node === to)?.role).toBe('joining')

    // The write: on the source and the destination, on no other voter.
    const {key, others} = await w.writeOnSourceAndDestination(now, from, to, 'rb-w1-acked-by-src-and-dst', 'acked-by-src-and-dst')

    // The destination frozen: the executor removes it from the shard (the barrier skips a node without a lease), then
    // waits for it to read or drop its copy.
    w.dp.nodes[to]!.signal('SIGSTOP')
    let thawed = false
    const thaw = () => {
      if (!thawed) w.dp.nodes[to]!.signal('SIGCONT')
      thawed = true
    }
    await expireDeadExecutorLock(w.dp.ctx)
    const exec = w.apply()
    try {
      await w.leaseGone(to)
      await waitFor(async () => {
        const s = (await w.dp.shards()).find((x) => x.id === shard.id)!
        return s.replicas.some((r) => r.node === to) ? undefined : true
      }, `${to} to leave the shard`, 60_000)
      expect((await w.moveOf(move.id))?.phase).toBe('rb-cutover')

      // The source dies for good: SIGKILL, its data dir gone; its lease expires. Then the destination thaws.
      await w.killForGood(from)
      thaw()

      const ended = await waitFor(async () => {
        const m = await w.moveOf(move.id)
        return m && ['rolledback', 'failed'].includes(m.phase) ? m : undefined
      }, 'the move to end', 90_000).catch((err: Error) => {
        throw new Error(`${err.message}: ${(exec.stdout() + exec.logs()).slice(-3000)}`)
      })
      expect(ended.phase, (exec.stdout() + exec.logs()).slice(-3000)).toBe('rolledback')
      expect(ended.reason).toContain(`repaired into ${[...others].sort().join(', ')}`)
      expect(ended.keptCopyRepair).toMatchObject({state: 'dropped', voters: [...others].sort(), copyReplaced: false})
      expect(ended.warnings ?? []).toEqual([])
    } finally {
      thaw()
      await exec.kill()
    }
    const after = (await w.dp.shards()).find((s) => s.id === shard.id)!
    expect(after.replicas.map((r) => r.node).sort()).toEqual([from, ...others].sort())
    for (const n of others) expect((await w.dp.client(n).get(after.id, after.epoch, key)).record?.value?.toString()).toBe('acked-by-src-and-dst')
    for (const r of [w1, ...w.routers]) {
      const got = await waitFor(async () => {
        const res = await kv(r.address, 'GET', key).catch(() => undefined)
        return res && (res.status === 200 || res.status === 404) ? res : undefined
      }, `a read of ${key} through ${r.address}`)
      expect(got.status).toBe(200)
      expect(got.body.toString()).toBe('acked-by-src-and-dst')
    }
    await w.expectFillIntact('after the rollback without its source')
  })
})
