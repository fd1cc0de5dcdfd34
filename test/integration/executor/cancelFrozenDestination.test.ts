import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {runCli} from '../../support/runCli.js'
import {waitFor} from '../router/dataPlane.js'
import {faultEnv, PhaseKillWorld} from './phaseKillWorld.js'

/**
 * `moves cancel` of a copying move whose destination does not answer (its process frozen with
 * SIGSTOP: connections are accepted by the kernel, requests never answered), on real processes.
 * Until session 40 the copy loop never re-read the move while the destination was in trouble:
 * each request waited out the client's 10 s and the loop retried for the whole 30 s trouble
 * window, so the cancel was carried out only after the copy gave up, about 40 s later. Now
 * the move is looked at every second while a request is unanswered.
 */

let w: PhaseKillWorld

beforeAll(async () => {
  w = new PhaseKillWorld(inject('etcdEndpoint'), 'cancel-frozen-dst')
  await w.start(2, 1, 1, 30)
}, 90_000)

afterAll(async () => {
  await w?.teardown()
})

describe('moves cancel while the destination does not answer', {timeout: 120_000}, () => {
  it('Given a copying move and its destination frozen, When `moves cancel` runs, Then the executor aborts the move long before its 30 s trouble window ends, and once the destination is back the move ends aborted with every value intact', async () => {
    const {shard, to} = await w.moveTarget(0)
    const move = await w.recordMove('cancel-frozen', shard, to)
    const exec = w.apply(faultEnv({when: 'after', phase: 'copying'}, 'stop'))
    const destination = w.dp.nodes[to]!
    try {
      await w.waitStopped(exec, 'after copying')
      destination.signal('SIGSTOP')
      exec.signal('SIGCONT')
      const cancel = await runCli(['moves', 'cancel', move.id, ...w.conn()], {cwd: w.cwd, timeoutMs: 30_000})
      expect(cancel.code, cancel.stderr).toBe(0)
      // The copy would give up on its own only after the 30 s trouble window (first failure after the 10 s request timeout): 20 s is well inside it.
      const noticed = await waitFor(async () => {
        const m = await w.moveOf(move.id)
        return m && m.phase !== 'copying' ? m : undefined
      }, 'the executor to answer the cancel', 20_000)
      expect(noticed.reason).toBe('cancelled by operator')
      expect(['aborting', 'aborted']).toContain(noticed.phase)
    } finally {
      destination.signal('SIGCONT')
    }
    const code = await Promise.race([exec.exited, new Promise((r) => setTimeout(() => r('still running'), 60_000))])
    if (code === 'still running') await exec.kill()
    await w.finish(move.id)
    expect((await w.moveOf(move.id))?.phase).toBe('aborted')
    await w.expectFillIntact('after the cancelled move')
  })
})
