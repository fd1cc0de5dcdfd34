import {render} from 'ink-testing-library'
import {describe, expect, it} from 'vitest'
import {ClientsPanel} from '../../../src/tui/components/ClientsPanel.js'
import {deriveTopView} from '../../../src/tui/topView.js'
import {busyCluster, reduce, router, seeded, T0} from '../fixtures.js'
import {lines} from './frame.js'

describe('ClientsPanel', () => {
  it('Given a router reporting 120 req/s and a copy at the throttle, When rendered, Then it shows the figures, a sparkline per series and zero errors', () => {
    const s = reduce(
      [
        {type: 'kv', at: T0 + 1, item: router('r1', 0, 1000, 0, 3)},
        {type: 'sample', at: T0 + 1000},
        {type: 'kv', at: T0 + 5001, item: router('r1', 5000, 1600, 0, 12)},
        {type: 'sample', at: T0 + 6000},
      ],
      seeded(busyCluster()),
    )
    const [clients, copy] = lines(render(<ClientsPanel clients={deriveTopView(s, 1.1).clients} width={100} />).lastFrame())
    expect(clients).toMatch(/^CLIENTS +120 req\/s + █ +p99 +12 ms +▂█ +errors 0$/)
    expect(copy).toMatch(/^COPY +256 KiB\/s of 256 KiB\/s ██$/)
  })

  it('Given no router and no samples, When rendered narrow, Then it says so and fits the width', () => {
    const out = lines(render(<ClientsPanel clients={deriveTopView(seeded(busyCluster()), 1.1).clients} width={60} />).lastFrame())
    expect(out[0]).toMatch(/^CLIENTS +n\/a req\/s/)
    for (const l of out) expect(l.length).toBeLessThanOrEqual(60)
  })
})
