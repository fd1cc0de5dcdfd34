import {render} from 'ink-testing-library'
import {describe, expect, it} from 'vitest'
import {NodesPanel, STALE_NOTE} from '../../../src/tui/components/NodesPanel.js'
import {type NodeRowView} from '../../../src/tui/topView.js'
import {lines} from './frame.js'

const nodes: NodeRowView[] = Array.from({length: 6}, (_, i) => ({id: `n${i + 1}`, zone: 'a', state: 'active', down: i === 5, replicas: 3, utilisation: 1 + i * 0.01, perResource: {reads: 1, writes: 1, bytes: 1}, loadStale: false}))

describe('NodesPanel', () => {
  it('Given more nodes than rows, When rendered, Then the down node and the furthest from the mean are kept, with a "more" line', () => {
    const {lastFrame} = render(<NodesPanel nodes={nodes} width={100} maxRows={3} />)
    const out = lines(lastFrame())
    expect(out).toHaveLength(4)
    expect(out[1]).toMatch(/^n5 /)
    expect(out[2]).toMatch(/^n6 .*DOWN/)
    expect(out[3]).toBe('… 4 more nodes closer to the mean')
  })

  it('Given a node shown whose load predates the map, When rendered, Then its row is marked and the title explains the mark once; not while no row shown is', () => {
    const stale = nodes.map((n) => (n.id === 'n2' || n.id === 'n3' ? {...n, loadStale: true} : n))
    const out = lines(render(<NodesPanel nodes={stale} width={160} maxRows={6} />).lastFrame())
    expect(out[0]).toMatch(new RegExp(`^NODES .* ${STALE_NOTE.replace(/[*()]/g, '\\$&')}$`))
    expect(out.filter((l) => l.endsWith('x*')).map((l) => l.split(' ')[0])).toEqual(['n2', 'n3'])
    expect(out.join('\n').split(STALE_NOTE)).toHaveLength(2)
    // n2 and n3 are closest to the mean: with 3 rows they are not shown, nor is the note.
    const few = lines(render(<NodesPanel nodes={stale} width={160} maxRows={3} />).lastFrame())
    expect(few.join('\n')).not.toContain('*')
    for (const l of lines(render(<NodesPanel nodes={stale} width={80} maxRows={6} />).lastFrame())) expect(l.length).toBeLessThanOrEqual(80)
  })

  it('Given no nodes, When rendered, Then it says so', () => {
    const {lastFrame} = render(<NodesPanel nodes={[]} width={80} maxRows={3} />)
    expect(lines(lastFrame())[1]).toBe('no nodes registered')
  })

  it('Given 80 columns, When rendered, Then rows have per-resource bars and fit', () => {
    const {lastFrame} = render(<NodesPanel nodes={nodes} width={80} maxRows={6} />)
    const out = lines(lastFrame())
    expect(out[1]).toMatch(/ R .* W .* B /)
    for (const l of out) expect(l.length).toBeLessThanOrEqual(80)
  })
})
