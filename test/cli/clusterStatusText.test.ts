import {describe, expect, it} from 'vitest'
import {adoptionEffect, formatClock, kvWaitingLines, nodeStatusTable, STALE_NOTE, writeFloorLine} from '../../src/cli/clusterStatusText.js'
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

describe('cluster status: the write floor line', () => {
  const floor = (w: number | null, majority: boolean) => ({version: 1 as const, w, majority, updatedAt: '2026-12-03T21:00:00.000Z', by: w === null && !majority ? null : 'r1'})
  it('says a move whose source is down waits for it while the floor allows w = 1, or is unknown', () => {
    expect(writeFloorLine(null, 3)).toMatch(/^write floor: unknown .*counts as w = 1, so a move whose source is down waits for it/)
    // The way out for a cluster from before the floor is named where the operator sees the problem.
    expect(writeFloorLine(null, 3)).toContain('`shardctl cluster write-floor adopt --lowest-w N|majority` records it')
    expect(writeFloorLine({...floor(2, false), by: null, adopted: {at: '2026-12-03T22:00:00.000Z', lowestW: '2', routers: 0}}, 3)).toMatch(/^write floor: --w 2 \(adopted at 2026-12-03T22:00:00.000Z from the operator's --lowest-w 2\): w = 2 at rf 3/)
    expect(writeFloorLine(floor(1, true), 3)).toBe('write floor: --w 1 and majority (last lowered by router r1 at 2026-12-03T21:00:00.000Z): w = 1 at rf 3, so a move whose source is down waits for it (heals of a dead node included; docs/moves.md "The write floor")')
    // At rf 1 a majority is the one voter.
    expect(writeFloorLine(floor(null, true), 1)).toMatch(/w = 1 at rf 1, so a move whose source is down waits/)
  })

  it('an unreadable floor is not one the cluster predates: it says how to inspect and delete it, not to adopt over it (adopt refuses an existing key)', () => {
    const line = writeFloorLine(null, 3, {key: '/shardctl/c/write-floor'})
    expect(line).toMatch(/^write floor: unreadable .*counts as w = 1, so a move whose source is down waits for it/)
    expect(line).toContain('`etcdctl get /shardctl/c/write-floor`')
    expect(line).toContain('`etcdctl del /shardctl/c/write-floor`')
    expect(line).not.toContain('predates')
  })

  it('says the fallback may run at w >= 2, and that no router ran on a new cluster', () => {
    expect(writeFloorLine(floor(null, true), 3)).toMatch(/^write floor: majority .*: w = 2 at rf 3, so a move whose source is down may copy from the other voters/)
    expect(writeFloorLine(floor(2, true), 5)).toMatch(/w = 2 at rf 5/)
    expect(writeFloorLine(floor(null, false), 3)).toBe('write floor: no router has run yet')
  })
})

describe('write-floor adopt: what the floor will allow', () => {
  const floor = (w: number | null, majority: boolean) => ({version: 1 as const, w, majority, updatedAt: '2026-12-03T22:00:00.000Z', by: null, adopted: {at: '2026-12-03T22:00:00.000Z', lowestW: '2', routers: 0}})
  it('names the shard sizes whose moves with a down source may then copy from the other voters, or says nothing changes', () => {
    expect(adoptionEffect(floor(2, false), 3)).toMatch(/^write floor --w 2: moves with a down source may then copy from, and verify against, the other voters of shards with >= 2 voters \(w = 2 at rf 3\)/)
    expect(adoptionEffect(floor(1, true), 3)).toMatch(/^write floor --w 1 and majority: w = 1 at every shard size, so moves with a down source still wait for it/)
  })
})

describe('cluster status: moves waiting for a node', () => {
  it('says nothing while no move waits, else one line a move with since when and the executor\'s text (its way out)', () => {
    expect(kvWaitingLines([])).toEqual([])
    const text = 'move m1: n4 restarted on another data dir in cleanup ...; start them, or if they are gone for good `shardctl moves abandon-voters m1 --accept-data-loss` refills n4 from what is up and records the loss'
    expect(kvWaitingLines([{move: 'm1', shard: 3, phase: 'cleanup', since: '2026-12-05T13:00:00.000Z', text}])).toEqual(['Moves waiting for a node:', `  move m1 (shard 3, cleanup) since 2026-12-05T13:00:00.000Z: ${text}`])
  })
})
