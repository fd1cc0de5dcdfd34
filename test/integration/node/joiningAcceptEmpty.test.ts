import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {requestRollback} from '../../../src/executor/moveStore.js'
import {faultEnv, PhaseKillWorld} from '../executor/phaseKillWorld.js'

/**
 * A move's destination (`joining`) restarted on a data dir accepted with --accept-empty-data
 * after the move verified it and before its cutover. dataDirClaim.ts relies on verification's
 * repair for what such a replica lacks, but verification already passed: the executor cuts
 * over to the destination without re-verifying, and at cleanup deletes the source's copy, at
 * rf 1 the only other one: until session 36 48 of 60 preloaded keys read back 404 (every live
 * one) while the move ended `done`. Now verification is keyed on both nodes' claims/<id>, so
 * the restarted destination is verified again before the cutover (src/executor/verifiedDirs.ts).
 *
 * The same loss after cutover: the destination (now the only voter at rf 1) restarted empty
 * while the source is `outgoing` was read from, and at cleanup the source's copy was dropped;
 * and a rollback from `cutover` flipped reads back to a source restarted empty meanwhile and
 * dropped the destination's copy. Both lost every live preloaded key until session 36.
 * The cases run in order on one cluster: each moves the shard to the node that lacks it.
 */

let w: PhaseKillWorld
const extraDirs: string[] = []

beforeAll(async () => {
  w = new PhaseKillWorld(inject('etcdEndpoint'), 'joining-accept-empty')
  await w.start(2, 1, 1, 60)
}, 90_000)

afterAll(async () => {
  await w?.teardown()
  for (const d of extraDirs) rmSync(d, {recursive: true, force: true})
})

describe('a joining destination served from an accepted empty dir after verification', {timeout: 150_000}, () => {
  it('Given a move at rf 1 stopped after verifying, When its destination restarts on an empty dir with --accept-empty-data and the move goes on, Then every preloaded key still reads back', async () => {
    const {shard, to} = await w.moveTarget(0)
    const move = await w.recordMove('joining-empty', shard, to)
    const exec = w.apply(faultEnv({when: 'before', phase: 'cutover'}, 'stop'))
    try {
      await w.waitStopped(exec, 'before cutover')
      expect((await w.moveOf(move.id))?.phase).toBe('verifying')
      await w.dp.nodes[to]!.kill()
      const empty = mkdtempSync(join(tmpdir(), 'shardctl-joining-empty-'))
      extraDirs.push(empty)
      w.dp.dataDirs[to] = empty
      const restarted = await w.dp.startNode(to, undefined, ['--accept-empty-data'])
      expect(restarted.logs()).toMatch(/--accept-empty-data/)
      exec.signal('SIGCONT')
      await Promise.race([exec.exited, new Promise((r) => setTimeout(r, 60_000))])
      await w.finish(move.id)
      console.info(`move ended ${(await w.moveOf(move.id))?.phase}`)
      await w.expectFillIntact('joining destination accepted empty')
    } finally {
      await exec.kill()
    }
  })

  it('Given a move at rf 1 stopped right after cutover, When its destination restarts on an empty dir with --accept-empty-data and the move goes on, Then every preloaded key still reads back', async () => {
    const {shard, to} = await w.moveTarget(0)
    const move = await w.recordMove('voter-empty', shard, to)
    const exec = w.apply(faultEnv({when: 'after', phase: 'cutover'}, 'stop'))
    try {
      await w.waitStopped(exec, 'after cutover')
      expect((await w.moveOf(move.id))?.phase).toBe('cutover')
      await restartEmpty(to)
      exec.signal('SIGCONT')
      await Promise.race([exec.exited, new Promise((r) => setTimeout(r, 60_000))])
      expect((await w.finish(move.id)).phase).toBe('done')
      await w.expectFillIntact('cut-over destination accepted empty')
    } finally {
      await exec.kill()
    }
  })

  it('Given a move at rf 1 stopped right after cutover, When its source restarts on an empty dir with --accept-empty-data and the move is rolled back, Then every preloaded key still reads back', async () => {
    const {shard, to} = await w.moveTarget(0)
    const move = await w.recordMove('rollback-empty', shard, to)
    const exec = w.apply(faultEnv({when: 'after', phase: 'cutover'}, 'stop'))
    try {
      await w.waitStopped(exec, 'after cutover')
      await restartEmpty(move.from)
      expect((await requestRollback(w.dp.ctx, move.id)).changed).toBe(true)
      exec.signal('SIGCONT')
      await Promise.race([exec.exited, new Promise((r) => setTimeout(r, 60_000))])
      expect((await w.finish(move.id)).phase).toBe('rolledback')
      await w.expectFillIntact('rolled-back source accepted empty')
    } finally {
      await exec.kill()
    }
  })
})

/** restartEmpty restarts node `id` on a new, empty data dir with --accept-empty-data. */
async function restartEmpty(id: string): Promise<void> {
  await w.dp.nodes[id]!.kill()
  const empty = mkdtempSync(join(tmpdir(), 'shardctl-accept-empty-'))
  extraDirs.push(empty)
  w.dp.dataDirs[id] = empty
  const restarted = await w.dp.startNode(id, undefined, ['--accept-empty-data'])
  expect(restarted.logs()).toMatch(/--accept-empty-data/)
}
