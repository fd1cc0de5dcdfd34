import {describe, expect, it} from 'vitest'
import {judgeSourceAbandon} from '../../src/executor/sourceAbandon.js'
import {MOVE_PHASES, PHASE_TABLE} from '../../src/model/move.js'
import {moveOf} from './fixtures.js'

const move = (phase: (typeof MOVE_PHASES)[number], over = {}) => moveOf({id: 'm1', shard: 1, from: 'n1', to: 'n4', phase, ...over})
const refusal = (v: ReturnType<typeof judgeSourceAbandon>) => (v.kind === 'refuse' ? {code: v.error.code, message: v.error.message} : undefined)

describe('judgeSourceAbandon', () => {
  it('marks only a cut-over move going forward or rolling back whose source holds no lease, with the flag', () => {
    const marked = MOVE_PHASES.filter((p) => judgeSourceAbandon(move(p), undefined, true).kind === 'mark')
    expect(marked).toEqual(['cutover', 'release', 'draining', 'cleanup', 'rb-joining', 'rb-cutover'])
    expect(marked.every((p) => PHASE_TABLE[p].cutOver && !PHASE_TABLE[p].terminal)).toBe(true)
  })

  it('refuses without --accept-data-loss (BAD_INPUT, exit 2), in one line naming the flag and the loss', () => {
    const r = refusal(judgeSourceAbandon(move('cleanup'), undefined, false))
    expect(r?.code).toBe('BAD_INPUT')
    expect(r?.message).toContain('pass --accept-data-loss')
    expect(r?.message).toContain('loses every record only its copy holds')
    expect(r?.message).not.toContain('\n')
  })

  it('refuses a source that holds its lease, flag or not (PRECONDITION): the move reads it', () => {
    for (const flag of [true, false]) {
      const r = refusal(judgeSourceAbandon(move('cleanup'), 'pid 7 at 127.0.0.1:7001, started T', flag))
      expect(r?.code).toBe('PRECONDITION')
      expect(r?.message).toContain('node n1 is up (alive/n1: pid 7 at 127.0.0.1:7001, started T)')
    }
  })

  it('refuses before cutover (cancel instead), and marks a move rolling back, withdrawing the rollback (it waits for the down source)', () => {
    for (const p of ['pending', 'copying', 'verifying', 'aborting'] as const) {
      const v = judgeSourceAbandon(move(p), undefined, true)
      expect(v.kind).toBe('refuse')
      if (v.kind === 'refuse') expect(p === 'aborting' ? v.error.message : v.error.hint).toMatch(p === 'aborting' ? /has not cut over/ : /moves cancel m1/)
    }
    // Until session 38 refused: a rollback in flight waited for a source gone for good, with no way out.
    for (const p of ['rb-joining', 'rb-cutover'] as const) expect(judgeSourceAbandon(move(p), undefined, true)).toEqual({kind: 'mark', withdrawsRollback: true})
  })

  it('marks a move whose rollback was requested but not begun, withdrawing it (it waits for the down source), and refuses any move of a redis cluster', () => {
    // Until session 38 refused: the rollback waited for a source gone for good, with no way out.
    expect(judgeSourceAbandon(move('draining', {rollbackRequested: true}), undefined, true)).toEqual({kind: 'mark', withdrawsRollback: true})
    expect(refusal(judgeSourceAbandon(move('draining', {rollbackRequested: true}), 'pid 7 at a, started T', true))?.message).toContain('node n1 is up')
    expect(refusal(judgeSourceAbandon(move('cleanup'), undefined, true, 'redis'))?.message).toContain('redis slot migration')
  })

  it('answers "already" for a finished move and a repeated request, changing nothing', () => {
    for (const p of ['done', 'aborted', 'skipped', 'failed', 'rolledback'] as const) expect(judgeSourceAbandon(move(p), undefined, true).kind).toBe('already')
    expect(judgeSourceAbandon(move('cleanup', {abandonSourceRequested: 'T'}), undefined, true)).toEqual({kind: 'already', message: "move m1's source n1 is already abandoned (requested at T)"})
  })
})
