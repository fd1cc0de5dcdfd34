import {render} from 'ink-testing-library'
import {describe, expect, it} from 'vitest'
import {Header} from '../../../src/tui/components/Header.js'
import {deriveTopView} from '../../../src/tui/topView.js'
import {busyCluster, KEYS, reduce, seeded, shard, T0} from '../fixtures.js'
import {lines} from './frame.js'

describe('Header', () => {
  it('Given a busy cluster, When rendered, Then it shows cluster, endpoint, nodes, shards, rf, imbalance vs target, executor and throttle', () => {
    const {lastFrame} = render(<Header header={deriveTopView(seeded(busyCluster()), 1.1).header} width={120} />)
    const [l1, l2, l3] = lines(lastFrame())
    expect(l1).toBe('shardctl top · cluster demo · connected · etcd http://127.0.0.1:2379')
    // The fixture's shard 1 has two voters and a joining replica: one short of rf 3.
    expect(l2).toMatch(/^nodes 4 up 0 down · shards 4 \(1 moving\) · 1 under-replicated · rf 3 · imbalance \d\.\d\dx \(target 1\.10x\)$/)
    expect(l3).toBe('executor running shardctl apply p1 (pid 4242) · throttle 256 KiB/s')
  })

  it('Given etcd down for 12 s, When rendered, Then the first line says DOWN — reconnecting with the time', () => {
    const s = reduce([{type: 'connection', at: T0, status: 'disconnected'}, {type: 'tick', at: T0 + 12_000}], seeded(busyCluster()))
    const {lastFrame} = render(<Header header={deriveTopView(s, 1.1).header} width={100} />)
    expect(lines(lastFrame())[0]).toContain('etcd DOWN — reconnecting 12s')
  })

  it('Given a narrow width, When rendered, Then no line is longer than the width', () => {
    const {lastFrame} = render(<Header header={deriveTopView(seeded(busyCluster()), 1.1).header} width={50} />)
    for (const l of lines(lastFrame())) expect(l.length).toBeLessThanOrEqual(50)
  })

  it('Given every shard at rf on live nodes, When rendered, Then no under-replicated figure is shown', () => {
    const healthy = busyCluster().map((kv) => (kv.key === KEYS.shard(1) ? shard(1, ['n1', 'n2', 'n4']) : kv))
    const {lastFrame} = render(<Header header={deriveTopView(seeded(healthy), 1.1).header} width={120} />)
    expect(lines(lastFrame())[1]).not.toContain('under-replicated')
  })
})
