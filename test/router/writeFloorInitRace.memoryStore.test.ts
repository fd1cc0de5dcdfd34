import {describe, expect, it} from 'vitest'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {effectiveWriteQuorum} from '../../src/model/writeFloor.js'
import {writeQuorumsEver} from '../../src/executor/writeQuorumFloor.js'
import {isUserError} from '../../src/errors/errors.js'
import {startRouter} from '../../src/router/routerService.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {moveOf} from '../executor/fixtures.js'

/**
 * Hunt (session 29): a router that starts while `cluster init --force` re-creates the cluster.
 * The floor only goes down, and a move whose source is down reads it to learn whether a write
 * may live on the source alone (a `--w 1` router, even one long gone). `cluster init --force`
 * deletes everything under the prefix (the floor and routers/ included) and writes the new
 * cluster's floor empty in its last transaction. A `--w 1` router whose start-up straddles
 * that ends up registered in the new cluster, serving, with the new floor saying nothing of it:
 *
 * 1. it lowers the old floor to 1, then init --force clears the prefix and commits the new,
 *    empty floor, then the router creates routers/<id> (its registration lands in the new
 *    cluster); or
 * 2. it has read the cluster's meta (the old cluster: it exists), init --force clears the prefix,
 *    the router reads the floor absent (left alone: absent already reads as w = 1), registers,
 *    and then init's last transaction writes the empty floor.
 *
 * While it stays registered the executor counts its entry; once it has stopped, a move whose
 * source is down counts a majority (w = 2 of 3) and falls back to the other old voters, which
 * need not hold a write this router acknowledged on the source alone: a lost acknowledged write.
 *
 * docs/moves.md tells operators to stop the routers before `cluster init --force` (one that
 * keeps running across it is covered only when it next registers); that did not cover a router
 * started during it. The fix: the registration is fenced on the floor the router lowered (the
 * `routers/<id>` create compares the floor's create revision as recordWriteQuorum left it, or its
 * absence, and the create revision of the cluster's meta read first; a failed fence lowers
 * again and retries; no meta means the cluster is being re-created: the start fails), so a
 * registration never lands after a floor reset it has not lowered. Both tests failed before it
 * (the move counted w = 2).
 */

const SPECS = parseNodeSpecs('n1=127.0.0.1:7101@a,n2=127.0.0.1:7102@b,n3=127.0.0.1:7103@c')

async function oldCluster() {
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'race'})
  await initCluster(ctx, {shards: 1, rf: 3, nodes: SPECS, force: false})
  return {store, ctx}
}

/** quorumAfter is the write quorum a move with a down source counts once the router is gone: 1 is the only safe answer after a --w 1 router ran. */
async function quorumAfter(ctx: ReturnType<typeof makeServiceContext>): Promise<number> {
  return effectiveWriteQuorum(3, await writeQuorumsEver({ctx}, moveOf({shard: 0, from: 'n1', to: 'n2'})))
}

describe('a --w 1 router started while cluster init --force re-creates the cluster', () => {
  it('lowered the old floor before the re-creation: it lowers the new floor before its registration lands, which says w = 1 once it has gone', async () => {
    const {store, ctx} = await oldCluster()
    const registration = store.faults.hold({op: 'txn', key: ctx.keys.router('r1')})
    const started = startRouter(ctx, {id: 'r1', listen: '127.0.0.1:0', w: 1, leaseTtlSeconds: 60})
    await registration.reached
    await initCluster(makeServiceContext(store.connect(), {cluster: 'race'}), {shards: 1, rf: 3, nodes: SPECS, force: true})
    registration.release()
    const router = await started
    // It serves in the new cluster: its entry is there.
    expect(await store.get(ctx.keys.router('r1'))).toBeDefined()
    await router.stop(0)
    expect(await quorumAfter(ctx)).toBe(1)
  })

  it('read the floor absent in the middle of the re-creation: it does not start (no cluster yet), and started again it lowers the new floor', async () => {
    const {store, ctx} = await oldCluster()
    const floorRead = store.faults.hold({op: 'get', key: ctx.keys.writeFloor})
    const started = startRouter(ctx, {id: 'r1', listen: '127.0.0.1:0', w: 1, leaseTtlSeconds: 60})
    await floorRead.reached
    // init --force clears the prefix; its last transaction (meta, control, the empty floor) waits.
    const last = store.faults.hold({op: 'txn', key: ctx.keys.control})
    const init = initCluster(makeServiceContext(store.connect(), {cluster: 'race'}), {shards: 1, rf: 3, nodes: SPECS, force: true})
    await last.reached
    floorRead.release()
    // Its registration's fence (the old meta, the floor absent) fails; lowering again finds no cluster.
    const err = await started.catch((e: unknown) => e)
    expect(isUserError(err, 'NOT_FOUND')).toBe(true)
    expect(await store.get(ctx.keys.router('r1'))).toBeUndefined()
    last.release()
    await init
    const router = await startRouter(ctx, {id: 'r1', listen: '127.0.0.1:0', w: 1, leaseTtlSeconds: 60})
    await router.stop(0)
    expect(await quorumAfter(ctx)).toBe(1)
  })
})
