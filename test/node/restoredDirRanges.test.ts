import {describe, expect, it} from 'vitest'
import {type ReplicaRole, type Shard} from '../../src/model/shard.js'
import {restoredDirRanges} from '../../src/node/restoredDirRanges.js'

const shard = (id: number, lo: number, hi: number, replicas: [string, ReplicaRole][]): {shard: Shard; role: ReplicaRole} => ({
  shard: {id, range: {lo, hi}, epoch: 1, replicas: replicas.map(([node, role]) => ({node, role}))},
  role: replicas.find(([n]) => n === 'me')![1],
})

describe('restoredDirRanges', () => {
  it('Given held shards, When some have another voter or outgoing replica, Then only their ranges are named (a lone copy, or one whose only peer is a move destination mid-copy, is all there is; a learning one is left to its copy)', () => {
    const held = [
      shard(1, 0, 10, [['me', 'voter'], ['a', 'voter'], ['b', 'voter']]),
      shard(2, 10, 20, [['me', 'voter']]),
      shard(3, 20, 30, [['me', 'voter'], ['a', 'joining']]),
      shard(4, 30, 40, [['me', 'voter'], ['a', 'learning']]),
      shard(5, 40, 50, [['me', 'outgoing'], ['a', 'voter']]),
      shard(6, 50, 60, [['me', 'joining'], ['a', 'outgoing'], ['b', 'leaving']]),
      shard(7, 60, 70, [['me', 'voter'], ['b', 'leaving']]),
      shard(8, 70, 80, [['me', 'learning'], ['a', 'voter'], ['b', 'voter']]),
      shard(9, 80, 90, [['me', 'leaving'], ['a', 'voter']]),
    ]
    expect(restoredDirRanges('me', held)).toEqual([
      {lo: 0, hi: 10},
      {lo: 40, hi: 50},
      {lo: 50, hi: 60},
      {lo: 80, hi: 90},
    ])
  })
})
