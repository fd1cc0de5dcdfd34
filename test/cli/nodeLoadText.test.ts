import {describe, expect, it} from 'vitest'
import {nodeLoadLine} from '../../src/cli/nodeLoadText.js'
import {type NodeLoad} from '../../src/cluster/nodeService.js'

const load = (over: Partial<NodeLoad> = {}): NodeLoad => ({at: '2026-12-03T11:24:05.425Z', replicas: 2, reads: 0, writes: 4.94, bytes: 106_751, keys: 52, clockOffsetMs: 0, clockOk: true, stale: false, ...over})

describe('node show: the load line', () => {
  it('gives the published figures as they are while they name as many replicas as the map gives the node', () => {
    expect(nodeLoadLine(load(), 2)).toBe('load at 2026-12-03T11:24:05.425Z: 0.0 reads/s, 4.9 writes/s, 104 KiB in 52 keys over 2 replicas')
    expect(nodeLoadLine(load({replicas: 0, writes: 0, bytes: 0, keys: 0}), 0)).toBe('load at 2026-12-03T11:24:05.425Z: 0.0 reads/s, 0.0 writes/s, 0 B in 0 keys over 0 replicas')
  })

  it('says the figures predate the map when they are stale (the map gives the node another number of replicas: just drained, they are not what it holds now)', () => {
    const line = nodeLoadLine(load({stale: true}), 0)
    expect(line).toBe("load at 2026-12-03T11:24:05.425Z: 0.0 reads/s, 4.9 writes/s, 104 KiB in 52 keys over 2 replicas (published before the shard map's latest change: it gives the node 0 replicas now; the node publishes again once it sees the change)")
    expect(nodeLoadLine(load({replicas: 1, stale: true}), 2)).toMatch(/over 1 replicas \(published before the shard map's latest change: it gives the node 2 replicas now;/)
  })

  it('keeps the clock warning, and says when nothing is published', () => {
    expect(nodeLoadLine(load({clockOk: false, clockOffsetMs: 812, stale: true}), 0)).toMatch(/the node publishes again once it sees the change\); CLOCK OFF by 812 ms \(refusing writes\)$/)
    expect(nodeLoadLine(null, 3)).toBe('load: not published (the node is down or not serving yet)')
  })
})
