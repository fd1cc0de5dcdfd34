import {describe, expect, it} from 'vitest'
import {expireDeadExecutorLock} from '../../support/deadExecutorLock.js'
import {lossWarnings} from '../../../src/model/move.js'
import {faultEnv, phaseKillSuite} from './phaseKillWorld.js'

/**
 * A destination that restarts on an empty dir in `cleanup`, after the source dropped its copy,
 * on real processes (docs/moves.md, "A destination restarted in `cleanup`"). At rf 1 the
 * source's copy was the only other one: until session 39 the executor refilled the destination
 * from the source's dropped range, found nothing, and `apply` ended the move `done` with exit 0
 * and no word of the shard's values, all gone. Now the move carries a warning of possible data
 * loss and `apply` exits 23 (POSSIBLE_DATA_LOSS).
 */

const suite = phaseKillSuite('lost-after-drop')
const {cli} = suite

describe('a destination restarted empty after the source dropped its copy, on real processes', {timeout: 150_000}, () => {
  it('Given rf 1 and a move stopped right before done (the source dropped), When the destination restarts on an empty dir, Then apply --resume ends the move done with a loss warning and exits 23', async () => {
    const w = suite.world
    const {shard, to} = await w.moveTarget(0)
    const move = await w.recordMove('lost-after-drop', shard, to)
    // Stopped right before `done` is committed: the cleanup already had the source drop its copy.
    const stopped = w.apply(faultEnv({when: 'before', phase: 'done'}, 'stop'))
    await w.waitStopped(stopped, 'before done')
    await stopped.kill()
    expect((await w.moveOf(move.id))?.phase).toBe('cleanup')
    await w.dp.nodes[to]!.kill()
    const empty = suite.emptyDir('shardctl-lost-after-drop-')
    w.dp.dataDirs[to] = empty
    await w.dp.startNode(to, undefined, ['--accept-empty-data'])
    await expireDeadExecutorLock(w.dp.ctx)

    const exec = w.apply()
    try {
      const code = await Promise.race([exec.exited, new Promise((r) => setTimeout(() => r('still running'), 60_000))])
      expect(code, (exec.stdout() + exec.logs()).slice(-2000)).toBe(23)
      const m = (await w.moveOf(move.id))!
      expect(m.phase).toBe('done')
      expect(lossWarnings(m)).toHaveLength(1)
      expect(lossWarnings(m)[0]!.text).toContain('on another data dir than the one verified')
      expect(exec.stdout() + exec.logs()).toContain('may have lost acknowledged data')
      const status = await cli(['cluster', 'status'])
      expect(status.stdout).toContain(`move ${move.id} (shard ${move.shard}, done)`)
    } finally {
      await exec.kill()
    }
  })
})
