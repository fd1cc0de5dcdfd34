import {render} from 'ink-testing-library'
import {describe, expect, it} from 'vitest'
import {NodeRow} from '../../../src/tui/components/NodeRow.js'
import {type NodeRowView} from '../../../src/tui/topView.js'
import {plain} from './frame.js'

const hot: NodeRowView = {id: 'n1', zone: 'a', state: 'active', down: false, replicas: 12, utilisation: 1.5, perResource: {reads: 2, writes: 1.5, bytes: 1}, loadStale: false}

describe('NodeRow', () => {
  it('Given a hot node, When rendered per resource, Then it shows badge, replicas, three bars with figures and the overall utilisation', () => {
    const {lastFrame} = render(<NodeRow node={hot} barWidth={8} scale={2} compact={false} />)
    expect(plain(lastFrame())).toBe('n1     up        12r R ████████ 2.00 W ██████·· 1.50 B ████···· 1.00  1.50x')
  })

  it('Given a down, draining or cordoned node, When rendered, Then its badge says so', () => {
    for (const [patch, badge] of [[{down: true}, 'DOWN'], [{state: 'draining' as const}, 'draining'], [{state: 'cordoned' as const}, 'cordoned']] as const) {
      const {lastFrame} = render(<NodeRow node={{...hot, ...patch}} barWidth={4} scale={2} compact />)
      expect(plain(lastFrame())).toContain(badge)
    }
  })

  it('Given load from before the map\'s latest change, When rendered, Then the utilisation is marked', () => {
    const {lastFrame} = render(<NodeRow node={{...hot, loadStale: true}} barWidth={8} scale={2} compact={false} />)
    expect(plain(lastFrame())).toBe('n1     up        12r R ████████ 2.00 W ██████·· 1.50 B ████···· 1.00  1.50x*')
  })

  it('Given unknown load, When rendered compact, Then it shows n/a and an empty bar marking the mean', () => {
    const {lastFrame} = render(<NodeRow node={{...hot, utilisation: null, perResource: null}} barWidth={8} scale={2} compact />)
    expect(plain(lastFrame())).toBe('n1     up        12r ····│···   n/a')
  })
})
