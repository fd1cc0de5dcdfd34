import {describe, expect, it} from 'vitest'
import {keptCopyRepairText} from '../../src/executor/keptCopyRepairText.js'

describe('keptCopyRepairText (moves show)', () => {
  const rec = {state: 'dropped' as const, at: 'T1', voters: ['n2', 'n3'], records: 4, dirs: {n4: 'd4/i1', n2: 'd2/i1', n3: 'd3/i1'}, copyDir: 'd4/i1', copyReplaced: false}

  it('says nothing of a move that repaired nothing from a kept copy', () => {
    expect(keptCopyRepairText({to: 'n4'})).toBeUndefined()
  })

  it('names the state, the voters repaired and the records sent', () => {
    expect(keptCopyRepairText({to: 'n4', keptCopyRepair: rec})).toBe("kept copy repair: repaired at T1, n4's copy dropped; voters repaired: n2, n3; records sent: 4")
    expect(keptCopyRepairText({to: 'n4', keptCopyRepair: {...rec, state: 'repaired'}})).toContain("n4's copy about to be dropped")
  })

  it('says when the copy read was on another data dir than the one it was known under', () => {
    expect(keptCopyRepairText({to: 'n4', keptCopyRepair: {...rec, dirs: {...rec.dirs, n4: 'd9/i2'}, copyReplaced: true}})).toContain('n4 served another data dir (d9/i2) than its copy\'s (d4/i1)')
  })
})
