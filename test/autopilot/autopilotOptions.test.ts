import {describe, expect, it} from 'vitest'
import {policyFromFlags} from '../../src/autopilot/autopilotOptions.js'
import {isUserError} from '../../src/errors/errors.js'
import {errorOf} from '../support/errorOf.js'

const FLAGS = {deadAfterMs: 300_000, rebalanceAbove: '1.3', forMs: 60_000, coolDownMs: 60_000}

describe('policyFromFlags', () => {
  it('names the autopilot\'s help, not plan\'s, under a malformed planner flag (`autopilot --max-imbalance x` said "see `shardctl plan --help`")', () => {
    for (const bad of [{maxImbalance: 'x'}, {minImprovement: '-1'}, {weights: 'cpu=1'}]) {
      const err = errorOf(() => policyFromFlags({...FLAGS, ...bad}))
      expect(isUserError(err, 'BAD_INPUT'), JSON.stringify(bad)).toBe(true)
      expect((err as {hint?: string}).hint, JSON.stringify(bad)).toBe('see `shardctl autopilot --help`')
    }
  })

  it('refuses a ratio written other than as a decimal (0x10 was read as 16, Infinity as a trigger never reached)', () => {
    for (const bad of [{rebalanceAbove: '0x10'}, {rebalanceAbove: 'Infinity'}, {rebalanceAbove: '1e1'}, {maxImbalance: '0x10'}, {minImprovement: '0b1'}, {weights: 'reads=0x2'}]) {
      const err = errorOf(() => policyFromFlags({...FLAGS, ...bad}))
      expect(isUserError(err, 'BAD_INPUT'), JSON.stringify(bad)).toBe(true)
    }
  })
})
