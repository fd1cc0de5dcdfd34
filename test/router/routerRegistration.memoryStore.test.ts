import {describe, expect, it} from 'vitest'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {listRouterQuorums, listRouters, type RouterRecord} from '../../src/router/routerRegistration.js'
import {MemoryStore} from '../../src/store/memoryStore.js'

const NOW = '2026-12-04T03:00:00.000Z'

describe('listRouterQuorums (the registered routers\' write quorums, for a move with a down source and for adopt)', () => {
  it('lists every entry with its --w, null for a majority, undefined for one that does not say or cannot be read (not skipped: it may be --w 1)', async () => {
    const store = new MemoryStore()
    const ctx = makeServiceContext(store, {cluster: 'quorums'})
    const record = (id: string, w?: number | null): RouterRecord => ({id, address: '127.0.0.1:9', pid: 1, startedAt: NOW, updatedAt: NOW, mapRevision: '1', epochs: {}, p99Ms: null, ...(w === undefined ? {} : {w})})
    await store.put(ctx.keys.router('r-2'), JSON.stringify(record('r-2', 2)))
    await store.put(ctx.keys.router('r-maj'), JSON.stringify(record('r-maj', null)))
    await store.put(ctx.keys.router('r-old'), JSON.stringify(record('r-old')))
    await store.put(ctx.keys.router('r-bad'), '{unreadable')
    expect(await listRouterQuorums(ctx)).toEqual([
      {id: 'r-2', w: 2},
      {id: 'r-bad', w: undefined},
      {id: 'r-maj', w: null},
      {id: 'r-old', w: undefined},
    ])
    // listRouters, for display, skips the unreadable one.
    expect((await listRouters(ctx)).map((r) => r.id)).toEqual(['r-2', 'r-maj', 'r-old'])
  })
})
