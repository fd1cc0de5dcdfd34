import {readFileSync} from 'node:fs'
import {resolve} from 'node:path'
import {describe, expect, it} from 'vitest'
import {abortable} from '../../src/executor/retryPolicy.js'
import {isTerminal, isUnsuccessful, MOVE_PHASES, PHASE_TABLE, phasesWhere, TERMINAL_PHASES} from '../../src/model/move.js'

describe('the move phase table', () => {
  it('is the one source of the phase lists: terminal, cancellable, rollback-able, unsuccessful', () => {
    expect([...TERMINAL_PHASES]).toEqual(['done', 'aborted', 'skipped', 'failed', 'rolledback'])
    expect(phasesWhere((i) => i.cancel === 'accept')).toEqual(['pending', 'checked', 'joining', 'copying', 'promoting', 'verifying'])
    expect(phasesWhere((i) => i.rollback === 'accept')).toEqual(['cutover', 'release', 'draining'])
    expect(MOVE_PHASES.filter(isUnsuccessful)).toEqual(['aborted', 'failed'])
    expect(MOVE_PHASES.filter((p) => isTerminal(p))).toEqual([...TERMINAL_PHASES])
  })

  it('accepts a cancel exactly where the machine can still abort, and a rollback only after cutover', () => {
    for (const p of MOVE_PHASES) {
      expect(PHASE_TABLE[p].cancel === 'accept', p).toBe(abortable(p))
      if (PHASE_TABLE[p].rollback === 'accept') expect(PHASE_TABLE[p].cutOver, p).toBe(true)
      expect(PHASE_TABLE[p].terminal, p).toBe(PHASE_TABLE[p].outcome !== 'running')
    }
  })

  it("is what docs/moves.md's protocol table documents: every phase has its row", () => {
    const readme = readFileSync(resolve(import.meta.dirname, '../../docs/moves.md'), 'utf8')
    const table = readme.slice(readme.indexOf('| phase | shard map (epoch) |'))
    const rows = table.slice(0, table.indexOf('\n\n')).split('\n').slice(2)
    const named = new Set(rows.flatMap((r) => [...(r.split('|')[1] ?? '').matchAll(/`([a-z-]+)`/g)].map((m) => m[1])))
    for (const p of MOVE_PHASES.filter((x) => x !== 'skipped')) expect(named, `docs/moves.md protocol table lacks a row for ${p}`).toContain(p)
    expect(rows.join('\n')).toContain('`skipped`')
    for (const n of named) expect(MOVE_PHASES as readonly string[]).toContain(n)
  })
})
