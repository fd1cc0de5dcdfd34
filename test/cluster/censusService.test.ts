import {describe, expect, it} from 'vitest'
import {countShards} from '../../src/cluster/censusCounts.js'
import {censusDifferences} from '../../src/cluster/censusService.js'

const shards = [
  {replicas: [{node: 'n1', role: 'voter'}, {node: 'n2', role: 'voter'}, {node: 'n3', role: 'voter'}]},
  {replicas: [{node: 'n1', role: 'voter'}, {node: 'n2', role: 'voter'}, {node: 'n4', role: 'voter'}]},
]

describe('censusDifferences (what cluster recount reports it corrected)', () => {
  it('Given equal counts, Then it reports nothing', () => {
    expect(censusDifferences(countShards(shards), countShards(shards))).toEqual([])
  })

  it('Given a voter-set histogram that differs while every other count agrees, Then it says how many sets differ', () => {
    const stored = countShards(shards)
    // The same shards listed in another order, replicas too: voter sets are order-free.
    const recounted = countShards([
      {replicas: [{node: 'n1', role: 'voter'}, {node: 'n2', role: 'voter'}, {node: 'n4', role: 'voter'}]},
      {replicas: [{node: 'n1', role: 'voter'}, {node: 'n3', role: 'voter'}, {node: 'n2', role: 'voter'}]},
    ])
    expect(censusDifferences(stored, recounted)).toEqual([])
    const skewed = structuredClone(recounted)
    skewed.byVoterSet = {'n1,n2,n3': 2}
    expect(censusDifferences(skewed, recounted)).toEqual(['voter sets: 2 differ'])
  })

  it('Given a census without the histogram (older) and a recount with it, Then it says the histogram was added', () => {
    const recounted = countShards(shards)
    const older = structuredClone(recounted)
    delete older.byVoterSet
    expect(censusDifferences(older, recounted)).toEqual(['voter-set histogram absent -> 2 sets'])
  })
})
