import {describe, expect, it} from 'vitest'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {isUserError} from '../../src/errors/errors.js'
import {EXIT_CODES} from '../../src/errors/codes.js'
import {MemoryStore} from '../../src/store/memoryStore.js'

/**
 * `cluster init --force` refuses while a router is registered: the router keeps its lease across
 * the clear of the prefix and would write routers/<id> back into the new cluster without having
 * lowered the new, empty write floor (test/router/writeFloorHeartbeat.memoryStore.test.ts).
 */
const SPECS = parseNodeSpecs('n1=127.0.0.1:7101@a,n2=127.0.0.1:7102@b,n3=127.0.0.1:7103@c')

describe('cluster init --force with a router registered', () => {
  it('refuses with one line and exit 1, naming the router, and changes nothing', async () => {
    const store = new MemoryStore()
    const ctx = makeServiceContext(store, {cluster: 'c'})
    await initCluster(ctx, {shards: 1, rf: 3, nodes: SPECS, force: false})
    const lease = await store.grantLease(60)
    await store.put(ctx.keys.router('r1'), '{}', lease.id)
    const before = await store.list(ctx.keys.prefix)
    const err = await initCluster(ctx, {shards: 2, rf: 3, nodes: SPECS, force: true}).catch((e: unknown) => e)
    expect(isUserError(err, 'PRECONDITION')).toBe(true)
    if (!isUserError(err)) return
    expect(EXIT_CODES[err.code]).toBe(1)
    expect(err.message).toContain('r1')
    expect(err.message).not.toContain('\n')
    expect(err.hint).toContain('stop the routers first')
    expect((await store.list(ctx.keys.prefix)).items).toEqual(before.items)
    // Once the router has gone (its lease with its entry), it goes ahead.
    await lease.revoke()
    await initCluster(ctx, {shards: 2, rf: 3, nodes: SPECS, force: true})
    expect((await store.list(ctx.keys.shardsPrefix)).items).toHaveLength(2)
  })
})
