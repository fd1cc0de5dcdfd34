import {describe, expect, it} from 'vitest'
import {outsideBand, plainReporter, summaryLines} from '../../src/demo/demoRender.js'
import {type DemoSummary} from '../../src/demo/demoService.js'

const summary: DemoSummary = {
  ok: true, cluster: 'demo', endpoint: 'http://127.0.0.1:1', nodes: 4, rf: 3, shards: 16, hotNode: 'n1', target: 1.1,
  imbalanceBefore: 1.32, imbalancePredicted: 1.05, imbalanceAfter: 1.07, balanced: true, rounds: 2,
  acts: [{title: 'act 1: fill n5', planned: 2, done: 2, bytes: 2 * 1024 * 1024, ms: 12_000}, {title: 'act 2: relieve n1', planned: 1, done: 1, bytes: 1024 * 1024, ms: 9_500}],
  utilisation: [{node: 'n1', before: 1.32, after: 1.07}, {node: 'n2', before: 0.9, after: 1.0}, {node: 'n5', before: null, after: 0.95}],
  moves: {planned: 3, done: 3, aborted: 0, failed: 0, skipped: 0}, bytesMoved: 3 * 1024 * 1024, rebalanceMs: 21_500, totalMs: 48_200,
  requests: {total: 5000, errors: 0, duringRebalance: 3100, errorsDuringRebalance: 0, worstMs: 48, firstErrors: []},
  security: {tls: false, auth: false, user: null},
  kept: null,
}

describe('summaryLines', () => {
  it('Given a successful run, When summarised, Then imbalance, per-node bars, acts, moves, data, durations, client errors and the worst stall are stated', () => {
    expect(summaryLines(summary, '.shardctl/demo/1')).toEqual([
      'Summary (success)',
      '  imbalance  1.32x → 1.07x the mean (target 1.10x; last plan predicted 1.05x) — balanced',
      '  nodes      utilisation (1.00 = the mean, │ marks it)  before → after',
      '    n1       ██████████▌····· 1.32x  →  ████████▌······· 1.07x',
      '    n2       ███████▎│······· 0.90x  →  ████████│······· 1.00x',
      '    n5                          n/a  →  ███████▋│······· 0.95x',
      '  act 1: fill n5         2/2 moves, 2.0 MiB in 12.0 s',
      '  act 2: relieve n1      1/1 moves, 1.0 MiB in 9.5 s',
      '  moves      3 done in 2 act(s), 0 aborted, 0 failed, 0 skipped; 3.0 MiB copied',
      '  duration   21.5 s rebalancing, 48.2 s in all',
      '  clients    5000 requests, 0 errors; during the rebalance 3100 requests, 0 errors; worst request 48 ms',
      '  security   plaintext, no authentication (`--secure` turns on TLS and tokens)',
      '  cleanup    stopped etcd, 4 nodes and the router; removed .shardctl/demo/1',
      '  explore    `shardctl demo --keep` leaves the cluster running for `shardctl top`; `shardctl moves show <id>` has every step of a move',
    ])
  })

  it('Given a secure run kept running, When summarised, Then it says TLS and authentication were on, how to connect (etcd, router, CA, token file) and the exact stop command, and claims no cleanup', () => {
    const kept = {
      version: 1 as const, dir: '/w/.shardctl/demo/7', cluster: 'demo', endpoint: 'http://127.0.0.1:2400', router: '127.0.0.1:7100',
      nodes: [{id: 'n1', address: '127.0.0.1:7101'}, {id: 'n2', address: '127.0.0.1:7102'}],
      processes: [{name: 'etcd', pid: 10}, {name: 'node-n1', pid: 11}, {name: 'node-n2', pid: 12}, {name: 'router', pid: 13}],
      secure: {ca: '/w/.shardctl/demo/7/certs/ca.crt', tokenFile: '/w/.shardctl/demo/7/certs/demo-client.token'}, keptAt: '2026-11-30T00:00:00Z',
    }
    const out = summaryLines({...summary, security: {tls: true, auth: true, user: 'demo-client'}, kept}, '.shardctl/demo/7', 'shardctl')
    expect(out).toContain('  security   TLS on every hop (clients → router → nodes, node → node copies; plaintext refused); authentication on: the clients were user demo-client with a token')
    expect(out.slice(-4)).toEqual([
      '  kept       etcd at http://127.0.0.1:2400, 2 nodes, router at 127.0.0.1:7100 keep running (4 processes; logs and pids in /w/.shardctl/demo/7)',
      '  connect    export ETCDCTL_ENDPOINTS=http://127.0.0.1:2400 SHARDCTL_CLUSTER=demo SHARDCTL_ROUTER=127.0.0.1:7100 SHARDCTL_TLS_CA=/w/.shardctl/demo/7/certs/ca.crt SHARDCTL_AUTH_TOKEN_FILE=/w/.shardctl/demo/7/certs/demo-client.token',
      '             shardctl top   ·   shardctl cluster status   ·   shardctl kv put hello world',
      '  stop       shardctl demo stop --dir /w/.shardctl/demo/7   (stops every process and deletes the data)',
    ])
    expect(out.join('\n')).not.toMatch(/cleanup|removed/)
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

describe('outsideBand', () => {
  it('Given a run whose imbalance is within target but one node sits under the band, When not balanced, Then the summary names that node and the band, and skips a drained node', () => {
    const s = {...summary, balanced: false, imbalanceAfter: 1.06, utilisation: [{node: 'n1', before: 1.36, after: 1.05}, {node: 'n3', before: 1.1, after: 0.89}, {node: 'n4', before: 1.24, after: 0}, {node: 'n5', before: null, after: 1.0}]}
    expect(summaryLines(s, '.shardctl/demo/1')[1]).toBe("  imbalance  1.32x → 1.06x the mean (target 1.10x; last plan predicted 1.05x) — not balanced yet (n3 at 0.89x, under the band's 0.90x)")
  })

  it('Given nodes over the target, under the band and within it, Then each node outside is named once, and none when all are within', () => {
    const u = (after: number | null, node = 'n') => ({node, before: null, after})
    expect(outsideBand({target: 1.1, utilisation: [u(1.2, 'a'), u(0.5, 'b'), u(1.0, 'c'), u(null, 'd')]})).toBe(" (a at 1.20x, over the target 1.10x; b at 0.50x, under the band's 0.90x)")
    expect(outsideBand({target: 1.1, utilisation: [u(0.95), u(1.1)]})).toBe('')
    expect(outsideBand({target: 2.5, utilisation: [u(0.01)]})).toBe('')
  })

  it('Given a node just outside the band that rounds to its edge, Then it is shown with the digits that tell it apart', () => {
    const u = (after: number, node: string) => ({node, before: null, after})
    expect(outsideBand({target: 1.1, utilisation: [u(0.8995, 'n3'), u(1.1004, 'n1')]})).toBe(" (n3 at 0.899x, under the band's 0.90x; n1 at 1.1004x, over the target 1.10x)")
  })
})
