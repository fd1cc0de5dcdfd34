import {describe, expect, it} from 'vitest'
import {type RedisDemoSummary} from '../../src/demo/redisDemo.js'
import {redisSummaryLines} from '../../src/demo/redisDemoRender.js'

/** summary is a Redis demo's result with nothing remarkable, but what a test sets. */
function summary(over: Partial<RedisDemoSummary> = {}): RedisDemoSummary {
  return {
    ok: true,
    engine: 'redis',
    masters: [{node: 'aaaa', address: '127.0.0.1:7000', slots: {before: 8192, after: 6000}, opsPerSec: {before: 900, after: 500}, usedMemory: {before: 1 << 20, after: 1 << 20}}],
    replicasPerMaster: 0,
    keys: 10,
    hotSlots: {first: 0, end: 1638, share: 0.9},
    opsImbalance: {before: 1.8, after: 1.1},
    memoryImbalance: {before: 1.2, after: 1.1},
    plan: {id: 'p', moves: 1, imbalanceBefore: 1.8, imbalanceAfter: 1.1},
    moves: {done: 1, aborted: 0, failed: 0, skipped: 0},
    keysMoved: 5,
    bytesMoved: 500,
    rebalanceMs: 1000,
    totalMs: 2000,
    requests: {requests: 10, errors: 0, worstMs: 3, firstErrors: [], duringRebalance: 5, errorsDuringRebalance: 0},
    verified: {checked: 10, mismatched: 0, examples: []},
    warnings: [],
    ...over,
  }
}

describe('redisSummaryLines', () => {
  it('Given a move warned that a master restarted mid-move, Then the summary prints the warning with the way out; none, no line', () => {
    const text = 'move m1: aaaa (its target, 127.0.0.1:7000) restarted while the move ran (run_id 1 -> 2) without appendonly: ... the keys of slots 0-511 it held ... are lost'
    const lines = redisSummaryLines(summary({ok: false, warnings: [{move: 'm1', text, mayHaveLostData: true}]}), '/tmp/d')
    expect(lines[0]).toBe('Summary (FAILED)')
    expect(lines).toContain(`             ${text}`)
    expect(lines.find((l) => l.startsWith('  warnings'))).toBe("  warnings   1 (the demo's cluster is gone: in yours, check the keys named, then `shardctl moves ack <move>`)")
    expect(redisSummaryLines(summary(), '/tmp/d').some((l) => l.startsWith('  warnings'))).toBe(false)
  })
})
