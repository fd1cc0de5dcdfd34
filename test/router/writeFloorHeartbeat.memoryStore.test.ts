import {describe, expect, it} from 'vitest'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {writeQuorumsEver} from '../../src/executor/writeQuorumFloor.js'
import {effectiveWriteQuorum, parseWriteFloor} from '../../src/model/writeFloor.js'
import {startRouter} from '../../src/router/routerService.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {moveOf} from '../executor/fixtures.js'

/**
 * Review (session 29): a router that keeps running across `cluster init --force`. init --force
 * deletes the prefix (routers/<id> and the floor) but not the router's lease, so the router stays
 * "registered" by its lease; its next update used to put routers/<id> back unconditionally: it
 * was registered in the new cluster, serving, with the new floor empty (once it has gone, a move
 * whose source is down counts a majority, not its w = 1). init --force now refuses while routers
 * are registered (test/cluster/initClusterRouters.memoryStore.test.ts), but a router registering
 * between that check and the clear still gets here: its updates are conditioned on the entry
 * register() created, and a failed condition is a lost registration (lower the floor, register
 * fenced). Failed before the fix (the move counted w = 2).
 */
const SPECS = parseNodeSpecs('n1=127.0.0.1:7101@a,n2=127.0.0.1:7102@b,n3=127.0.0.1:7103@c')

async function until(what: string, cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await cond()) return
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe('a --w 1 router running across cluster init --force', () => {
  it('does not write its entry back into the new cluster: it lowers the new floor first', async () => {
    const store = new MemoryStore()
    const ctx = makeServiceContext(store, {cluster: 'race'})
    await initCluster(ctx, {shards: 1, rf: 3, nodes: SPECS, force: false})
    const router = await startRouter(ctx, {id: 'r1', listen: '127.0.0.1:0', w: 1, leaseTtlSeconds: 60, heartbeatMs: 20})
    try {
      // What init --force does once past its checks: clear the prefix, write a new cluster.
      await store.commit({compares: [], deletePrefixes: [ctx.keys.prefix]})
      await initCluster(ctx, {shards: 1, rf: 3, nodes: SPECS, force: false})
      await until('r1 registered in the new cluster', async () => (await store.get(ctx.keys.router('r1'))) !== undefined)
      const floor = parseWriteFloor((await store.get(ctx.keys.writeFloor))!.value)
      expect(floor?.w).toBe(1)
    } finally {
      await router.stop(0)
    }
    expect(effectiveWriteQuorum(3, await writeQuorumsEver({ctx}, moveOf({shard: 0, from: 'n1', to: 'n2'})))).toBe(1)
  })
})
