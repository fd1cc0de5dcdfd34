import {describe, expect, it} from 'vitest'
import {type ClusterNode} from '../../src/model/node.js'
import {type NodeStats} from '../../src/model/stats.js'
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
      {node: 'a', alive: true, reporting: true, replicas: 2, reads: 11, writes: 7, bytes: 400, keys: 40, at: 't1'},
      {node: 'b', alive: true, reporting: true, replicas: 1, reads: 20, writes: 6, bytes: 120, keys: 12, at: 't2'},
      {node: 'c', alive: false, reporting: false, replicas: 2, reads: 0, writes: 0, bytes: 0, keys: 0, at: null},
    ])
    expect(r.shards[0]).toMatchObject({shard: 0, reads: 30, writes: 6, bytes: 120, keys: 12, reporting: 2, replicas: ['a', 'b', 'c']})
    expect(r.shards[1]).toMatchObject({shard: 1, reads: 1, writes: 2, reporting: 1, replicas: ['a', 'c(joining)']})
    expect(r.totals).toEqual({reads: 31, writes: 8, bytes: 420, keys: 42})
  })
})
