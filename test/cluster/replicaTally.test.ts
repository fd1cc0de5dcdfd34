import {describe, expect, it} from 'vitest'
import {liveVoters, tallyReplicas} from '../../src/cluster/replicaTally.js'

const v = (node: string) => ({node, role: 'voter'})
const learner = (node: string) => ({node, role: 'joining'})

describe('replicaTally', () => {
  it('Given a voter on a node whose lease lapsed, When counted against the live nodes, Then it does not count towards rf', () => {
    const replicas = [v('n1'), v('n2'), v('n3')]
    expect(liveVoters(replicas)).toBe(3)
    expect(liveVoters(replicas, new Set(['n1', 'n2']))).toBe(2)
    expect(liveVoters([v('n1'), learner('n4')], new Set(['n1', 'n4']))).toBe(1)
  })

  it('Given shards with a dead node, a move in flight and a short shard, When tallied, Then each figure counts only its own case', () => {
    const shards = [
      {replicas: [v('n1'), v('n2'), v('n3')]}, // healthy
      {replicas: [v('n1'), v('n2'), v('n5')]}, // n5 is down: one live voter short
      {replicas: [v('n1'), v('n2'), v('n3'), learner('n4')]}, // a move in flight, still 3 live voters
      {replicas: [v('n2'), v('n3')]}, // short in the map itself
    ]
    const alive = new Set(['n1', 'n2', 'n3', 'n4'])
    const t = tallyReplicas(shards, 3, alive)
    expect(t).toMatchObject({shards: 4, moving: 1, underReplicated: 2})
    expect(Object.fromEntries(t.replicasByNode)).toEqual({n1: 3, n2: 4, n3: 3, n4: 1, n5: 1})
    // Without liveness only the map counts: the dead node's voter hides its shard.
    expect(tallyReplicas(shards, 3).underReplicated).toBe(1)
    // Everyone alive and rf 2: nothing is short.
    expect(tallyReplicas(shards, 2, new Set(['n1', 'n2', 'n3', 'n4', 'n5'])).underReplicated).toBe(0)
  })
})
