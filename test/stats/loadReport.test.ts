import {describe, expect, it} from 'vitest'
import {type ClusterNode} from '../../src/model/node.js'
import {type NodeStats} from '../../src/model/stats.js'
import {STALE_MARK} from '../../src/cluster/loadStaleness.js'
import {renderLoadReport, STATS_STALE_NOTE} from '../../src/cli/statsText.js'
import {buildLoadReport} from '../../src/stats/loadReport.js'
import {shardOf} from '../router/fixtures.js'

const node = (id: string): ClusterNode => ({id, address: '127.0.0.1:1', zone: 'default', capacity: {}, state: 'active', createdAt: 't'})
const load = (shard: number, reads: number, writes: number, bytes = 100, keys = 10) => ({shard, reads, writes, bytes, keys})

describe('buildLoadReport', () => {
  it('sums a node\'s replicas; per shard sums reads and takes the largest replica\'s writes, bytes and keys', () => {
    const stats: NodeStats[] = [
      {node: 'a', at: 't1', shards: [load(0, 10, 5), load(1, 1, 2, 300, 30)]},
      {node: 'b', at: 't2', shards: [load(0, 20, 6, 120, 12)]},
    ]
    const r = buildLoadReport('c', new Date(0), [node('a'), node('b'), node('c')], [shardOf(0, 'a b c'), shardOf(1, 'a c:joining')], stats, new Set(['a', 'b']))
    expect(r.nodes).toEqual([
      {node: 'a', alive: true, reporting: true, replicas: 2, reportedReplicas: 2, reads: 11, writes: 7, bytes: 400, keys: 40, stale: false, at: 't1'},
      {node: 'b', alive: true, reporting: true, replicas: 1, reportedReplicas: 1, reads: 20, writes: 6, bytes: 120, keys: 12, stale: false, at: 't2'},
      {node: 'c', alive: false, reporting: false, replicas: 2, reportedReplicas: 0, reads: 0, writes: 0, bytes: 0, keys: 0, stale: false, at: null},
    ])
    expect(r.shards[0]).toMatchObject({shard: 0, reads: 30, writes: 6, bytes: 120, keys: 12, reporting: 2, replicas: ['a', 'b', 'c']})
    expect(r.shards[1]).toMatchObject({shard: 1, reads: 1, writes: 2, reporting: 1, replicas: ['a', 'c(joining)']})
    expect(r.totals).toEqual({reads: 31, writes: 8, bytes: 420, keys: 42})
  })

  it('marks a node whose last publish sums replicas the map no longer gives it (a drain just moved one off) as stale, in the JSON and the text', () => {
    // b published for shards 0 and 1; the map has since moved shard 1 to c, which has not published yet.
    const stats: NodeStats[] = [
      {node: 'a', at: 't1', shards: [load(0, 10, 5), load(1, 1, 2)]},
      {node: 'b', at: 't2', shards: [load(0, 20, 6), load(1, 3, 4, 300, 30)]},
    ]
    const r = buildLoadReport('c', new Date(0), [node('a'), node('b'), node('c')], [shardOf(0, 'a b'), shardOf(1, 'a c')], stats, new Set(['a', 'b', 'c']))
    expect(r.nodes.map((n) => [n.node, n.replicas, n.reportedReplicas, n.stale])).toEqual([
      ['a', 2, 2, false],
      ['b', 1, 2, true],
      ['c', 1, 0, false],
    ])
    const text = renderLoadReport(r)
    const row = (id: string) => text.split('\n').find((l) => l.startsWith(`${id} `))!
    expect(row('b')).toContain('23.0*')
    expect(row('b')).toContain('40*')
    expect(row('a')).not.toContain(STALE_MARK)
    expect(text.split(STATS_STALE_NOTE)).toHaveLength(2)
    // Once b publishes for the one replica it holds, nothing is marked and the note is gone.
    const fresh = buildLoadReport('c', new Date(0), [node('a'), node('b'), node('c')], [shardOf(0, 'a b'), shardOf(1, 'a c')], [stats[0]!, {node: 'b', at: 't3', shards: [load(0, 20, 6)]}], new Set(['a', 'b', 'c']))
    expect(fresh.nodes.some((n) => n.stale)).toBe(false)
    expect(renderLoadReport(fresh)).not.toContain(STATS_STALE_NOTE)
  })
})
