import {describe, expect, it} from 'vitest'
import {lossWarnings} from '../../../src/model/move.js'
import {phaseKillSuite} from './phaseKillWorld.js'

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
    // Stopped right before `done` is committed: the cleanup already had the source drop its copy.
    const move = await suite.stopThenRestartEmpty('lost-after-drop', {when: 'before', phase: 'done'}, (m0) => expect(m0.phase).toBe('cleanup'))

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
