import {describe, expect, it} from 'vitest'
import {isUserError} from '../../src/errors/errors.js'
import {formatAge, refuseOldPlan} from '../../src/plans/planAge.js'

const made = '2026-12-04T10:00:00.000Z'
const at = (iso: string) => Date.parse(iso)

function refusal(fn: () => void): Error & {code?: string; hint?: string} {
  try {
    fn()
  } catch (e) {
    return e as Error
  }
  throw new Error('expected a refusal')
}

describe('refuseOldPlan', () => {
  it('Given a plan made exactly --max-plan-age ago, When judged, Then it passes; one millisecond older is refused (CONFLICT) naming its age, its createdAt and the bound', () => {
    expect(() => refuseOldPlan({id: 'p', createdAt: made}, 2 * 3_600_000, at('2026-12-04T12:00:00.000Z'))).not.toThrow()
    const e = refusal(() => refuseOldPlan({id: 'p', createdAt: made}, 2 * 3_600_000, at('2026-12-04T12:00:00.001Z')))
    expect(isUserError(e, 'CONFLICT')).toBe(true)
    expect(e.message).toBe('plan p was made 2h 0m ago (2026-12-04T10:00:00.000Z), more than --max-plan-age 2h 0m allows; nothing was recorded or changed')
    expect(e.hint).toContain('shardctl plan')
  })

  it('Given a plan dated ahead of this clock, When judged with any bound, Then it counts as made now and passes', () => {
    expect(() => refuseOldPlan({id: 'p', createdAt: made}, 0, at('2026-12-04T09:00:00.000Z'))).not.toThrow()
  })

  it('Given a createdAt that is not a time, When judged, Then it is refused as BAD_INPUT (its age cannot be judged), whatever the bound', () => {
    for (const createdAt of ['yesterday', '2026-13-45T99:00:00Z', ' ']) {
      const e = refusal(() => refuseOldPlan({id: 'p', createdAt}, Number.MAX_SAFE_INTEGER, at(made)))
      expect(isUserError(e, 'BAD_INPUT'), createdAt).toBe(true)
      expect(e.message).toContain(`createdAt "${createdAt}" is not a time`)
    }
  })
})

describe('formatAge', () => {
  it('writes the two largest units, rounded down, and milliseconds only below a second', () => {
    expect(formatAge(0)).toBe('0s')
    expect(formatAge(850)).toBe('850ms')
    expect(formatAge(45_999)).toBe('45s')
    expect(formatAge(3 * 3_600_000 + 12 * 60_000 + 59_000)).toBe('3h 12m')
    expect(formatAge(2 * 86_400_000 + 3_600_000 + 5_000)).toBe('2d 1h')
    expect(formatAge(86_400_000)).toBe('1d 0h')
    expect(formatAge(61_000)).toBe('1m 1s')
  })
})
