import {describe, expect, it} from 'vitest'
import {phaseKillSuite} from './phaseKillWorld.js'

/**
 * A destination that restarts on an empty dir in `cleanup` BEFORE the source's drop was sent, on
 * real processes (docs/moves.md, "A destination restarted in `cleanup`"). The source still holds
 * every record, so the refill reads them all. Until session 40 the drop was not recorded before it
 * was sent, so the executor could not tell this from a restart after it: `apply` exited 23
 * (POSSIBLE_DATA_LOSS) for a move that lost nothing. Now the drop is recorded (fenced) first.
 */

const suite = phaseKillSuite('restart-before-drop')

describe('a destination restarted empty in cleanup before the source dropped its copy, on real processes', {timeout: 150_000}, () => {
  it('Given rf 1 and a move stopped right after it entered cleanup, When the destination restarts on an empty dir, Then apply --resume refills it from the source, ends the move done with no warning, exits 0, and every value reads back', async () => {
    const w = suite.world
    // Stopped right after etcd acknowledged `cleanup`: no drop sent or recorded yet.
    const move = await suite.stopThenRestartEmpty('restart-before-drop', {when: 'after', phase: 'cleanup'}, (m0) => {
      expect(m0.phase).toBe('cleanup')
      expect(m0.sourceDropSentAt).toBeNull()
    })

    const exec = w.apply()
    try {
      const code = await Promise.race([exec.exited, new Promise((r) => setTimeout(() => r('still running'), 60_000))])
      expect(code, (exec.stdout() + exec.logs()).slice(-2000)).toBe(0)
      const m = (await w.moveOf(move.id))!
      expect(m.phase).toBe('done')
      expect(m.warnings ?? []).toEqual([])
      await w.expectFillIntact('after the refill from the source before its drop')
    } finally {
      await exec.kill()
    }
  })
})
