import {describe, expect, it} from 'vitest'
import {routersBehind} from '../../src/executor/barrier.js'

const entry = (id: string, mapRevision: string, lease = '7587'): {key: string; value: string; lease: string} => ({
  key: `/shardctl/c/routers/${id}`,
  lease,
  value: JSON.stringify({id, address: '127.0.0.1:1', pid: 1, startedAt: 't', updatedAt: 't', mapRevision, epochs: {}, p99Ms: null}),
})

describe('routersBehind', () => {
  it('names leased routers whose map is older than the barrier revision', () => {
    expect(routersBehind([entry('r1', '100'), entry('r2', '99')], 100n)).toEqual(['r2'])
  })

  it('never waits for an entry attached to no lease (no live router keeps one), stale or unreadable', () => {
    expect(routersBehind([entry('r1', '1', '0'), {key: '/shardctl/c/routers/junk', value: '{nope', lease: '0'}], 100n)).toEqual([])
  })

  it('waits for an unreadable leased entry, saying it is unreadable', () => {
    expect(routersBehind([{key: '/shardctl/c/routers/r9', value: '{nope', lease: '42'}], 5n)).toEqual(['r9 (unreadable entry)'])
  })
})
