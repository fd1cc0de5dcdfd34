import {describe, expect, it} from 'vitest'
import {nextDropBudget} from '../../src/node/dropBudget.js'

const limits = {targetSeconds: 0.03, minRows: 64, maxRows: 4096} // the numbers the tests reason with, not the engine's

describe('nextDropBudget', () => {
  it('given a transaction that held the writer four times the target, when the next budget is set, then it is a quarter of the rows', () => {
    expect(nextDropBudget(limits, 1024, 1024, 0.12)).toBe(256)
  })

  it('given cheap transactions, when budgets follow one another, then each at most doubles, up to the most rows', () => {
    const budgets = [64]
    for (let i = 0; i < 8; i++) budgets.push(nextDropBudget(limits, budgets.at(-1) ?? 0, budgets.at(-1) ?? 0, 0.001))
    expect(budgets).toEqual([64, 128, 256, 512, 1024, 2048, 4096, 4096, 4096])
  })

  it('given a very slow transaction, when the next budget is set, then it never goes under the fewest rows (the drop still advances)', () => {
    expect(nextDropBudget(limits, 512, 512, 10)).toBe(64)
  })

  it('given a transaction that reported no time or no rows, when the next budget is set, then it grows as for a cheap one (no division by zero)', () => {
    expect(nextDropBudget(limits, 300, 0, 0.5)).toBe(600)
    expect(nextDropBudget(limits, 300, 300, 0)).toBe(600)
  })

  it('given a cost per row, when the budget settles, then the transactions it sets hold the writer about the target', () => {
    const perRow = 0.0002 // 150 rows fit 30 ms
    let budget = 4096
    for (let i = 0; i < 10; i++) budget = nextDropBudget(limits, budget, budget, budget * perRow)
    expect(budget * perRow).toBeGreaterThan(0.9 * limits.targetSeconds)
    expect(budget * perRow).toBeLessThanOrEqual(limits.targetSeconds * 1.001)
  })
})
