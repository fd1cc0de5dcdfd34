import {describe, expect, it} from 'vitest'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {floorPatch} from '../../src/executor/writeQuorumFloor.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {moveOf, shardOf} from './fixtures.js'

async function routers(entries: Record<string, string>) {
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'floor'})
  for (const [id, value] of Object.entries(entries)) await store.put(ctx.keys.router(id), value)
  return {ctx}
}

const entry = (id: string, w: number | null | undefined) => JSON.stringify({id, address: '127.0.0.1:1', pid: 1, startedAt: 't', updatedAt: 't', mapRevision: '1', epochs: {}, p99Ms: null, ...(w === undefined ? {} : {w})})
const rf3 = shardOf(1, ['a', 'b', 'c'])
const move = moveOf({shard: 1, from: 'a', to: 'd'})

describe('floorPatch (the smallest write quorum a router registered during the move had)', () => {
  it('records a majority when every router says so, and nothing more while that holds', async () => {
    const env = await routers({r1: entry('r1', null), r2: entry('r2', 2)})
    expect(await floorPatch(env, move, rf3)).toEqual({writeQuorumFloor: 2})
    expect(await floorPatch(env, {...move, writeQuorumFloor: 2}, rf3)).toBeUndefined()
  })

  it('lowers the floor for a --w 1 router, an entry that does not say (an older router) or one that cannot be read, and never raises it', async () => {
    for (const e of [entry('r2', 1), entry('r2', undefined), '{not json']) {
      const env = await routers({r1: entry('r1', null), r2: e})
      expect(await floorPatch(env, {...move, writeQuorumFloor: 2}, rf3)).toEqual({writeQuorumFloor: 1})
    }
    const later = await routers({r1: entry('r1', null)})
    expect(await floorPatch(later, {...move, writeQuorumFloor: 1}, rf3)).toBeUndefined()
  })
})
