import {describe, expect, it} from 'vitest'
import {plainReporter, summaryLines} from '../../src/demo/demoRender.js'
import {type DemoSummary} from '../../src/demo/demoService.js'

const summary: DemoSummary = {
  ok: true, cluster: 'demo', endpoint: 'http://127.0.0.1:1', nodes: 4, rf: 3, shards: 16, hotNode: 'n1', target: 1.1,
  imbalanceBefore: 1.32, imbalancePredicted: 1.05, imbalanceAfter: 1.07, balanced: true, rounds: 2,
  moves: {planned: 3, done: 3, aborted: 0, failed: 0, skipped: 0}, bytesMoved: 3 * 1024 * 1024, rebalanceMs: 21_500, totalMs: 48_200,
  requests: {total: 5000, errors: 0, duringRebalance: 3100, errorsDuringRebalance: 0, firstErrors: []},
}

describe('summaryLines', () => {
  it('Given a successful run, When summarised, Then imbalance, moves, data, durations and client errors are stated', () => {
    expect(summaryLines(summary, '.shardctl/demo/1')).toEqual([
      'Summary (success)',
      '  imbalance  1.32x → 1.07x the mean (target 1.10x; plan predicted 1.05x) — balanced',
      '  moves      3 done in 2 round(s), 0 aborted, 0 failed, 0 skipped; 3.0 MiB copied',
      '  duration   21.5 s rebalancing, 48.2 s in all',
      '  clients    5000 requests, 0 errors; during the rebalance 3100 requests, 0 errors',
      '  cleanup    stopped etcd, 4 nodes and the router; removed .shardctl/demo/1',
    ])
  })

  it('Given client errors, When summarised, Then it says FAILED and lists the first errors', () => {
    const out = summaryLines({...summary, ok: false, requests: {...summary.requests, errors: 1, firstErrors: ['PUT k1: router: QUORUM_FAILED']}}, 'd')
    expect(out[0]).toBe('Summary (FAILED)')
    expect(out).toContain('             error: PUT k1: router: QUORUM_FAILED')
  })
})

describe('plainReporter', () => {
  it('Given repeated waiting steps, When reported, Then the step prints once and lines are indented', () => {
    const out: string[] = []
    const report = plainReporter((l) => out.push(l))
    report({type: 'step', text: 'waiting for load stats to show the skew: n1 at 1.20x'})
    report({type: 'step', text: 'waiting for load stats to show the skew: n1 at 1.30x'})
    report({type: 'line', text: 'load stats show n1 running hot'})
    report({type: 'step', text: 'round 1: applying 2 moves'})
    expect(out).toEqual(['▶ waiting for load stats to show the skew: n1 at 1.20x', '  load stats show n1 running hot', '▶ round 1: applying 2 moves'])
  })
})
