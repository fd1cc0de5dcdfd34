import {describe, expect, it} from 'vitest'
import {expireDeadExecutorLock} from '../../support/deadExecutorLock.js'
import {kv, waitFor} from '../router/dataPlane.js'
import {faultEnv, phaseKillSuite} from './phaseKillWorld.js'

/**
 * A source gone for good after cutover, on real processes (docs/moves.md, "A source gone for
 * good after cutover"). At rf 1 the move's destination restarts on an empty dir
 * (--accept-empty-data) right after cutover, so the move must refill it from the source; the
 * source's machine is then gone. Until session 37 `apply --resume` waited for it for ever and
 * nothing ended the wait; now `moves abandon-source --accept-data-loss` does, refused while
 * the source holds its lease and without the flag.
 */

const suite = phaseKillSuite('abandon-source')
const {cli} = suite

describe('moves abandon-source on real processes', {timeout: 150_000}, () => {
  it('Given a cut-over move at rf 1 whose destination restarted empty, When its source is gone for good, Then apply --resume waits until abandon-source --accept-data-loss ends the move, and the node can be removed', async () => {
    const w = suite.world
    const {shard, to} = await w.moveTarget(0)
    const move = await w.recordMove('abandon', shard, to)
    const stopped = w.apply(faultEnv({when: 'after', phase: 'cutover'}, 'stop'))
    await w.waitStopped(stopped, 'after cutover')
    await stopped.kill()
    await w.dp.nodes[to]!.kill()
    const empty = suite.emptyDir('shardctl-abandon-empty-')
    w.dp.dataDirs[to] = empty
    await w.dp.startNode(to, undefined, ['--accept-empty-data'])

    // The source holds its lease: refused, exit 1, nothing marked.
    const up = await cli(['moves', 'abandon-source', move.id, '--accept-data-loss'])
    expect(up.code, up.stderr).toBe(1)
    expect(up.stderr).toContain(`node ${move.from} is up`)

    await w.dp.nodes[move.from]!.kill()
    await waitFor(async () => ((await w.dp.ctx.store.get(w.dp.ctx.keys.alive(move.from))) ? undefined : true), `alive/${move.from} to lapse`, 30_000)
    await expireDeadExecutorLock(w.dp.ctx)
    const exec = w.apply()
    try {
      // It waits for the source, naming the way out.
      await waitFor(async () => ((exec.stdout() + exec.logs()).includes(`moves abandon-source ${move.id} --accept-data-loss`) ? true : undefined), 'the executor to wait for the source, naming the way out', 60_000)
      expect((await w.moveOf(move.id))?.phase).toBe('cutover')
      expect(exec.gone()).toBe(false)
      const removeRefused = await cli(['node', 'remove', move.from])
      expect(removeRefused.code).toBe(1)
      expect(removeRefused.stderr).toContain('moves abandon-source')

      // Without the flag: one line naming it, exit 2, nothing marked.
      const noFlag = await cli(['moves', 'abandon-source', move.id])
      expect(noFlag.code, noFlag.stderr).toBe(2)
      expect(noFlag.stderr).toContain('pass --accept-data-loss')
      expect((await w.moveOf(move.id))?.abandonSourceRequested).toBeUndefined()

      const yes = await cli(['moves', 'abandon-source', move.id, '--accept-data-loss'])
      expect(yes.code, yes.stderr).toBe(0)
      expect(yes.stdout).toContain('marked abandoned')
      const code = await Promise.race([exec.exited, new Promise((r) => setTimeout(() => r('still running'), 60_000))])
      // 23 (POSSIBLE_DATA_LOSS): the move ended `done`, but what only the source held is lost, and a pipeline must not read it as success.
      expect(code, (exec.stdout() + exec.logs()).slice(-2000)).toBe(23)
      const m = (await w.moveOf(move.id))!
      expect(m.phase).toBe('done')
      expect(m.sourceAbandoned).toMatchObject({refilledFrom: []})
      expect(exec.stdout() + exec.logs()).toContain(`source ${move.from} abandoned`)
      const show = await cli(['moves', 'show', move.id])
      expect(show.stdout).toContain('source abandoned: went on without')
      expect(show.stdout).toContain(`(once checked: \`shardctl moves ack ${move.id}\`)`)
      const status = await cli(['cluster', 'status'])
      expect(status.stdout).toContain(`move ${move.id} (shard ${move.shard}, done)`)
      const ack = await cli(['moves', 'ack', move.id])
      expect(ack.code, ack.stderr).toBe(0)
      expect((await cli(['cluster', 'status'])).stdout).not.toContain('Data loss warnings')
      expect((await w.dp.shards())[0]!.replicas).toEqual([{node: to, role: 'voter'}])
      const removed = await cli(['node', 'remove', move.from])
      expect(removed.code, removed.stderr).toBe(0)
      // The shard serves again, on the destination alone.
      const put = await kv(w.routers[0]!.address, 'PUT', 'after-abandon', 'v')
      expect(put.status).toBeLessThan(300)
    } finally {
      await exec.kill()
    }
  })
})
