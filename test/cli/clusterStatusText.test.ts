import {describe, expect, it} from 'vitest'
import {formatClock, nodeStatusTable, STALE_NOTE} from '../../src/cli/clusterStatusText.js'
import {type NodeStatus} from '../../src/cluster/clusterStatus.js'

const row = (id: string, replicas: number, load: NodeStatus['load']): NodeStatus => ({id, address: '127.0.0.1:7101', zone: 'z1', state: 'active', alive: true, replicas, load, clock: {offsetMs: 3, ok: true}})
const load = (replicas: number, stale: boolean): NodeStatus['load'] => ({replicas, reads: 12.4, writes: 3, bytes: 2048, keys: 7, stale})

describe('cluster status: the nodes table', () => {
  it('gives the published figures as they are, and no note, while no node\'s load is stale', () => {
    const lines = nodeStatusTable([row('n1', 2, load(2, false)), row('n2', 0, null)])
    expect(lines).toHaveLength(1)
    expect(lines[0]!.split('\n')).toEqual([
      'NODE  ADDRESS         ZONE  STATE   UP  REPLICAS  READS/S  WRITES/S    BYTES  CLOCK',
      'n1    127.0.0.1:7101  z1    active  up         2       12         3  2.0 KiB  +3ms',
      'n2    127.0.0.1:7101  z1    active  up         0        -         -        -  +3ms',
    ])
  })

  it('marks each load figure of a node whose load predates the map, and explains the mark once under the table', () => {
    const lines = nodeStatusTable([row('n1', 1, load(2, true)), row('n2', 3, load(2, true)), row('n3', 2, load(2, false))])
    expect(lines).toHaveLength(2)
    const rows = lines[0]!.split('\n')
    expect(rows[1]).toMatch(/^n1 .* 1 +12\* +3\* +2\.0 KiB\*  \+3ms$/)
    expect(rows[2]).toMatch(/^n2 .* 3 +12\* +3\* +2\.0 KiB\*  \+3ms$/)
    expect(rows[3]).not.toContain('*')
    expect(lines[1]).toBe(STALE_NOTE)
    expect(STALE_NOTE).toMatch(/^\* load published before the shard map's latest change.*the node publishes again once it sees the change$/)
  })

  it('flags a clock beyond the bound', () => {
    expect(formatClock({offsetMs: -812, ok: false})).toBe('-812ms OUT OF BOUNDS')
    expect(formatClock(null)).toBe('-')
  })
})
