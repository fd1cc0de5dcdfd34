import {describe, expect, it} from 'vitest'
import {appliedVerdict, countApplied} from '../../src/executor/appliedPlan.js'
import {UserError} from '../../src/errors/errors.js'
import {MOVE_PHASES, type MovePhase, phasesWhere} from '../../src/model/move.js'

const moves = (...phases: MovePhase[]) => phases.map((phase) => ({phase}))

describe('a plan applied already, as plan verify judges it', () => {
  it('given finished, unfinished and listed moves, then it counts the listed ones as unfinished and the aborted ones as unsuccessful', () => {
    expect(countApplied(moves('done', 'done'), 0)).toEqual({moves: 2, unfinished: 0, unsuccessful: 0})
    expect(countApplied(moves('done', 'copying'), 1)).toEqual({moves: 3, unfinished: 2, unsuccessful: 0})
    expect(countApplied(moves('done', 'aborted'), 0)).toEqual({moves: 2, unfinished: 0, unsuccessful: 1})
  })

  it('given every phase, then unsuccessful ones are terminal and are what apply calls INCOMPLETE', () => {
    const unsuccessful = phasesWhere((i) => i.outcome === 'unsuccessful')
    expect(unsuccessful.length).toBeGreaterThan(0)
    for (const phase of MOVE_PHASES) expect(countApplied(moves(phase), 0).unsuccessful).toBe(unsuccessful.includes(phase) ? 1 : 0)
  })

  it('given all its moves done, then it passes saying applying it again runs nothing; unfinished ones are what apply continues', () => {
    expect(appliedVerdict('p1', {moves: 3, unfinished: 0, unsuccessful: 0})).toBe('applied already: 3 move(s) recorded, 0 unfinished; applying it again runs nothing (its actions are not checked again)')
    expect(appliedVerdict('p1', {moves: 3, unfinished: 2, unsuccessful: 0})).toMatch(/2 unfinished; applying it again continues only those 2/)
  })

  it('given a move that ended aborted, then it is refused with CONFLICT (exit 7), as applying it again would end INCOMPLETE', () => {
    const err = (() => {
      try {
        appliedVerdict('p1', {moves: 3, unfinished: 0, unsuccessful: 1})
      } catch (e) {
        return e
      }
    })() as UserError
    expect(err).toBeInstanceOf(UserError)
    expect(err.code).toBe('CONFLICT')
    expect(err.message).toBe('plan p1 was applied already and 1 of its 3 move(s) ended without their change (aborted or failed): applying it again runs nothing')
  })
})
