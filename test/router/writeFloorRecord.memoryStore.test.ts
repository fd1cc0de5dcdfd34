import {describe, expect, it} from 'vitest'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {EXIT_CODES} from '../../src/errors/codes.js'
import {isUserError} from '../../src/errors/errors.js'
import {newWriteFloor, parseWriteFloor} from '../../src/model/writeFloor.js'
import {RouterRegistration} from '../../src/router/routerRegistration.js'
import {startRouter} from '../../src/router/routerService.js'
import {FloorFenceError, recordWriteQuorum} from '../../src/router/writeFloorRecord.js'
import {MemoryStore} from '../../src/store/memoryStore.js'

async function cluster(opts: {init?: boolean} = {}) {
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'floor'})
  if (opts.init !== false) await initCluster(ctx, {shards: 2, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:1@a'), force: false})
  const floor = async () => {
    const kv = await store.get(ctx.keys.writeFloor)
    return kv && parseWriteFloor(kv.value)
  }
  return {store, ctx, floor}
}

describe('recordWriteQuorum (a router lowers the cluster\'s write floor before it registers)', () => {
  it('cluster init starts the floor empty; a majority router sets its majority part, an explicit --w lowers the count, a larger one writes nothing', async () => {
    const {ctx, floor} = await cluster()
    expect(await floor()).toMatchObject({w: null, majority: false, by: null})
    await recordWriteQuorum(ctx, {id: 'r-maj', w: null})
    expect(await floor()).toMatchObject({w: null, majority: true, by: 'r-maj'})
    await recordWriteQuorum(ctx, {id: 'r-3', w: 3})
    await recordWriteQuorum(ctx, {id: 'r-2', w: 2})
    const rev = (await ctx.store.get(ctx.keys.writeFloor))!.modRevision
    await recordWriteQuorum(ctx, {id: 'r-4', w: 4})
    await recordWriteQuorum(ctx, {id: 'r-maj2', w: null})
    expect(await floor()).toMatchObject({w: 2, majority: true, by: 'r-2'})
    expect((await ctx.store.get(ctx.keys.writeFloor))!.modRevision).toBe(rev)
  })

  it('leaves an absent floor absent (a cluster from an older build: it reads as w = 1 already)', async () => {
    const {ctx, store} = await cluster()
    await store.delete(ctx.keys.writeFloor) // a cluster created by a build from before the floor
    await recordWriteQuorum(ctx, {id: 'r-2', w: 2})
    expect(await store.get(ctx.keys.writeFloor)).toBeUndefined()
  })

  for (const order of [[2, 1], [1, 2]] as const) {
    it(`two routers starting at once with --w ${order[0]} and --w ${order[1]} (both read the floor before either writes): it ends at 1`, async () => {
      const {ctx, store, floor} = await cluster()
      // Two gates, one per router's first compare-and-swap: both have read the empty floor by then.
      const first = store.faults.hold({op: 'txn', key: ctx.keys.writeFloor})
      const second = store.faults.hold({op: 'txn', key: ctx.keys.writeFloor})
      const a = recordWriteQuorum(makeServiceContext(store.connect(), {cluster: 'floor'}), {id: `r-${order[0]}`, w: order[0]})
      const b = recordWriteQuorum(makeServiceContext(store.connect(), {cluster: 'floor'}), {id: `r-${order[1]}`, w: order[1]})
      await Promise.all([first.reached, second.reached])
      first.release()
      second.release()
      await Promise.all([a, b])
      expect(await floor()).toMatchObject({w: 1, majority: false})
    })
  }

  it('a floor it cannot write is a one-line error naming the router and its --w (never skipped)', async () => {
    const {ctx, store} = await cluster()
    store.faults.fail({op: 'txn', key: ctx.keys.writeFloor})
    const err = await recordWriteQuorum(ctx, {id: 'r-1', w: 1}).catch((e: unknown) => e)
    expect(isUserError(err, 'ETCD_UNREACHABLE')).toBe(true)
    expect((err as Error).message).toMatch(/^router r-1 cannot record its --w 1 in the cluster's write floor/)
    expect((err as Error).message).not.toContain('\n')
  })
})

describe('router start-up and the write floor', () => {
  it('a --w 1 router has lowered the floor before routers/<id> exists', async () => {
    const {ctx, store, floor} = await cluster()
    // Hold the registration: by then the floor must already say 1.
    const gate = store.faults.hold({op: 'txn', key: ctx.keys.router('r1')})
    const started = startRouter(ctx, {id: 'r1', listen: '127.0.0.1:0', w: 1, leaseTtlSeconds: 60})
    await gate.reached
    expect(await floor()).toMatchObject({w: 1, by: 'r1'})
    expect(await store.get(ctx.keys.router('r1'))).toBeUndefined()
    gate.release()
    const router = await started
    await router.stop(0)
  })

  it('a router that cannot lower the floor does not start, and never registers', async () => {
    const {ctx, store, floor} = await cluster()
    store.faults.fail({op: 'txn', key: ctx.keys.writeFloor})
    const err = await startRouter(ctx, {id: 'r1', listen: '127.0.0.1:0', w: 1, leaseTtlSeconds: 60}).catch((e: unknown) => e)
    expect((err as Error).message).toMatch(/^router r1 cannot record its --w 1 in the cluster's write floor/)
    expect(await store.get(ctx.keys.router('r1'))).toBeUndefined()
    expect(await floor()).toMatchObject({w: null})
  })
})

describe('the registration fence (what recordWriteQuorum returns)', () => {
  it('holds when another router lowers the floor between this one lowering it and registering (review, session 29)', async () => {
    const {ctx, store} = await cluster()
    const fence = await recordWriteQuorum(ctx, {id: 'r-3', w: 3})
    // Another router lowers it further meanwhile: the floor still covers r-3.
    await recordWriteQuorum(ctx, {id: 'r-1', w: 1})
    const lease = await store.grantLease(60)
    await new RouterRegistration(ctx, {id: 'r-3', address: 'a', view, writeQuorum: 3}).register(lease, fence)
    expect(await store.get(ctx.keys.router('r-3'))).toBeDefined()
  })

  it('fails when the floor was re-created meanwhile (it may have forgotten this router)', async () => {
    const {ctx, store} = await cluster()
    const fence = await recordWriteQuorum(ctx, {id: 'r-1', w: 1})
    await store.delete(ctx.keys.writeFloor)
    await store.put(ctx.keys.writeFloor, JSON.stringify(newWriteFloor('t')))
    const lease = await store.grantLease(60)
    const err = await new RouterRegistration(ctx, {id: 'r-1', address: 'a', view, writeQuorum: 1}).register(lease, fence).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(FloorFenceError)
    expect(await store.get(ctx.keys.router('r-1'))).toBeUndefined()
  })

  it('a router whose fence fails every round does not start: one line, exit 7, a hint that says what to do', async () => {
    const {ctx, store} = await cluster()
    let err: unknown
    const started = startRouter(ctx, {id: 'r-1', listen: '127.0.0.1:0', w: 1, leaseTtlSeconds: 60}).then(
      async (r) => r.stop(0),
      (e: unknown) => (err = e),
    )
    for (let round = 0; round < 5; round++) {
      const gate = store.faults.hold({op: 'txn', key: ctx.keys.router('r-1')})
      await gate.reached
      // The floor re-created between its lowering and the registration (as by `cluster init --force`).
      await store.delete(ctx.keys.writeFloor)
      await store.put(ctx.keys.writeFloor, JSON.stringify(newWriteFloor('t')))
      gate.release()
    }
    await started
    expect(isUserError(err, 'CONFLICT')).toBe(true)
    if (!isUserError(err)) return
    expect(EXIT_CODES[err.code]).toBe(7)
    expect(err.message).not.toContain('\n')
    expect(err.message).toContain('r-1')
    expect(err.hint).toBe('is `cluster init --force` or another router starting? start the router again')
    expect(await store.get(ctx.keys.router('r-1'))).toBeUndefined()
  })
})

const view = () => ({mapRevision: 1n, epochs: {}, p99Ms: null})
