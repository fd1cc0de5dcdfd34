import {render} from 'ink-testing-library'
import {describe, expect, it} from 'vitest'
import {screenRows, TopScreen} from '../../../src/tui/components/TopScreen.js'
import {deriveTopView} from '../../../src/tui/topView.js'
import {busyCluster, meta, move, node, reduce, seeded, shard, T0} from '../fixtures.js'
import {lines} from './frame.js'

function frame(state: ReturnType<typeof seeded>, width: number, height: number): string[] {
  return lines(render(<TopScreen view={deriveTopView(state, 1.1)} width={width} height={height} />).lastFrame())
}

function fits(out: string[], width: number, height: number): void {
  expect(out.length).toBeLessThanOrEqual(height - 1)
  for (const l of out) expect(l.length, l).toBeLessThanOrEqual(width)
}

describe('TopScreen', () => {
  it('Given an empty cluster, When rendered at 80×24, Then it shows no nodes, no moves and the keys', () => {
    const out = frame(seeded([meta()]), 80, 24)
    fits(out, 80, 24)
    expect(out).toContain('no nodes registered')
    expect(out).toContain('no moves — the cluster is not being rebalanced')
    expect(out.at(-1)).toContain('q quit')
  })

  it('Given moves in progress, When rendered at 100×30, Then nodes have bars, the running move has progress and the log has lines', () => {
    const s = reduce([{type: 'notice', at: T0, level: 'info', text: 'plan round 1: imbalance 1.40x -> 1.05x'}], seeded(busyCluster()))
    const out = frame(s, 100, 30)
    fits(out, 100, 30)
    expect(out.join('\n')).toMatch(/executor running/)
    expect(out.find((l) => l.startsWith('n1 '))).toMatch(/up +\d+r R [█▏▎▍▌▋▊▉·]+ \d\.\d\d W/)
    expect(out.find((l) => /copying/.test(l))).toMatch(/n1 → n4 +copying +█+·+ +50% +128 KiB\/s ETA 4s/)
    expect(out.find((l) => / done /.test(l))).toMatch(/✓/)
    expect(out).toContain('EVENTS')
    expect(out.some((l) => l.endsWith('plan round 1: imbalance 1.40x -> 1.05x'))).toBe(true)
  })

  it('Given etcd down, When rendered, Then the header says DOWN — reconnecting and the log says why', () => {
    const s = reduce([{type: 'connection', at: T0 + 1000, status: 'disconnected', error: 'connect ECONNREFUSED 127.0.0.1:2379'}, {type: 'tick', at: T0 + 4000}], seeded(busyCluster()))
    const out = frame(s, 80, 24)
    expect(out[0]).toContain('etcd DOWN — reconnecting 3s')
    expect(out.some((l) => l.includes('etcd unreachable: connect ECONNREFUSED'))).toBe(true)
  })

  it('Given a narrow terminal (60×20) with many nodes, When rendered, Then bars go compact and everything fits', () => {
    const items = [meta(), ...Array.from({length: 12}, (_, i) => node(`n${i + 1}`)), shard(0, ['n1', 'n2', 'n3'])]
    const out = frame(seeded(items), 60, 20)
    fits(out, 60, 20)
    expect(out.find((l) => l.startsWith('n1 '))).not.toMatch(/ R .* W /)
    expect(out.some((l) => l.startsWith('…') && l.includes('more nodes'))).toBe(true)
  })

  it('Given 80×24 and the busy cluster, When help is toggled, Then help replaces moves and log within the same rows', () => {
    const out = frame(reduce([{type: 'toggleHelp'}], seeded(busyCluster())), 80, 24)
    fits(out, 80, 24)
    expect(out).toContain('HELP')
    expect(out).not.toContain('EVENTS')
  })

  it('Given a done move warned of possible data loss, When rendered at 80×24, Then a TROUBLE line names its way out, its row is marked and everything fits', () => {
    const warning = {key: 'restart:n4:r2', at: '2026-11-29T08:59:00.000Z', text: 'move m0: n4 (its target, 127.0.0.1:7103) restarted while the move ran without appendonly: keys lost', mayHaveLostData: true, node: 'n4'}
    const out = frame(seeded([...busyCluster(), move('m0', {shard: 0, phase: 'done', warnings: [warning]})]), 80, 24)
    fits(out, 80, 24)
    expect(out).toContain('TROUBLE 1 warning(s) of possible data loss not acknowledged (as cluster status)')
    expect(out.some((l) => l.startsWith('⚠ move m0 (shard 0, done): check the keys, then `shardctl moves ack m0`'))).toBe(true)
    expect(out.find((l) => / done /.test(l))).toMatch(/DATA MAY BE LOST/)
  })

  it('Given sizes, When rows are shared, Then header, titles, footer and panels use height - 1 rows', () => {
    for (const [h, n, m] of [[24, 4, 2], [24, 40, 40], [50, 4, 0], [12, 3, 3]] as const) {
      const r = screenRows(h, n, m)
      expect(9 + r.nodes + r.moves + r.log).toBe(Math.max(h - 1, 12))
      expect(r.trouble).toBe(0)
    }
    // Warnings take a title and up to 3 lines from the rest.
    for (const [h, t, rows] of [[24, 1, 2], [24, 7, 4], [40, 2, 3]] as const) {
      const r = screenRows(h, 4, 2, t)
      expect(r.trouble).toBe(rows)
      expect(9 + r.trouble + r.nodes + r.moves + r.log).toBe(h - 1)
    }
  })
})
