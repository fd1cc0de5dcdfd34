import {describe, expect, it} from 'vitest'
import {clusterStatus} from '../../src/cluster/clusterStatus.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {type AdoptionPreview, adoptClusterWriteFloor} from '../../src/cluster/writeFloorAdoption.js'
import {isUserError} from '../../src/errors/errors.js'
import {newWriteFloor, parseWriteFloor} from '../../src/model/writeFloor.js'
import {parseLowestW} from '../../src/model/writeFloorAdoption.js'
import {type RouterRecord} from '../../src/router/routerRegistration.js'
import {MemoryStore} from '../../src/store/memoryStore.js'

const NOW = '2026-12-03T22:00:00.000Z'

/** oldCluster is a cluster as an older build left it: everything but the write floor. */
async function oldCluster() {
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'adopt'})
  await initCluster(ctx, {shards: 2, rf: 3, nodes: parseNodeSpecs('n1=127.0.0.1:1@a,n2=127.0.0.1:2@b,n3=127.0.0.1:3@c'), force: false})
  await store.delete(ctx.keys.writeFloor)
  const floor = async () => {
    const kv = await store.get(ctx.keys.writeFloor)
    return kv && parseWriteFloor(kv.value)
  }
  const register = (id: string, w: number | null | undefined) => {
    const r: RouterRecord = {id, address: '127.0.0.1:9', pid: 1, startedAt: NOW, updatedAt: NOW, mapRevision: '1', epochs: {}, p99Ms: null, ...(w === undefined ? {} : {w})}
    return store.put(ctx.keys.router(id), JSON.stringify(r))
  }
  return {store, ctx, floor, register}
}

const yes = async (_: AdoptionPreview) => {}
const codeOf = async (p: Promise<unknown>) => p.then(() => 'no error', (err) => (isUserError(err) ? err.code : String(err)))

describe('adoptClusterWriteFloor (a cluster created before the write floor)', () => {
  it('creates the floor from the operator\'s statement when it is absent, after showing it', async () => {
    const {ctx, floor} = await oldCluster()
    const shown: AdoptionPreview[] = []
    const r = await adoptClusterWriteFloor(ctx, parseLowestW('2'), async (p) => void shown.push(p))
    expect(shown).toEqual([expect.objectContaining({cluster: 'adopt', rf: 3, routers: 0, floor: expect.objectContaining({w: 2, majority: false})})])
    expect(await floor()).toMatchObject({w: 2, majority: false, by: null, adopted: {lowestW: '2', routers: 0}})
    expect(r).toMatchObject({floor: {w: 2}, loweredAfter: []})
  })

  it('refuses an existing floor with ALREADY_EXISTS before asking, and changes nothing (it never raises one)', async () => {
    const {ctx, store} = await oldCluster()
    await store.put(ctx.keys.writeFloor, JSON.stringify({...newWriteFloor(NOW), w: 1, by: 'r1'}))
    const before = await store.get(ctx.keys.writeFloor)
    let asked = false
    expect(await codeOf(adoptClusterWriteFloor(ctx, parseLowestW('majority'), async () => void (asked = true)))).toBe('ALREADY_EXISTS')
    expect(asked).toBe(false)
    expect(await store.get(ctx.keys.writeFloor)).toEqual(before)
  })

  it('a registered --w 1 router keeps it at 1 even if the operator says majority; one that does not say its --w counts as 1', async () => {
    const a = await oldCluster()
    await a.register('r-maj', null)
    await a.register('r-1', 1)
    await adoptClusterWriteFloor(a.ctx, parseLowestW('majority'), yes)
    expect(await a.floor()).toMatchObject({w: 1, majority: true, adopted: {lowestW: 'majority', routers: 2}})
    const b = await oldCluster()
    await b.register('r-old', undefined)
    await adoptClusterWriteFloor(b.ctx, parseLowestW('2'), yes)
    expect(await b.floor()).toMatchObject({w: 1, majority: false})
  })

  it('an unreadable floor: status says so (not absent), and adopt refuses it with the way out (inspect, delete, adopt)', async () => {
    const {ctx, store} = await oldCluster()
    await store.put(ctx.keys.writeFloor, '{unreadable')
    const status = await clusterStatus(ctx)
    expect(status).toMatchObject({writeFloor: null, writeFloorUnreadable: true})
    const err = await adoptClusterWriteFloor(ctx, parseLowestW('2'), yes).catch((e: unknown) => e)
    expect(isUserError(err, 'ALREADY_EXISTS')).toBe(true)
    if (!isUserError(err)) return
    expect(err.message).toContain('cannot be read')
    expect(err.hint).toContain(`\`etcdctl get ${ctx.keys.writeFloor}\``)
    expect(await store.get(ctx.keys.writeFloor)).toMatchObject({value: '{unreadable'})
    await store.delete(ctx.keys.writeFloor)
    expect(await clusterStatus(ctx)).toMatchObject({writeFloor: null, writeFloorUnreadable: false})
  })

  it('a declined question writes nothing', async () => {
    const {ctx, store} = await oldCluster()
    const declined = adoptClusterWriteFloor(ctx, parseLowestW('2'), async () => {
      throw new Error('declined')
    })
    await expect(declined).rejects.toThrow('declined')
    expect(await store.get(ctx.keys.writeFloor)).toBeUndefined()
  })

  it('a floor created while the operator is asked wins: ALREADY_EXISTS, and it is left as written', async () => {
    const {ctx, store, floor} = await oldCluster()
    const theirs = {...newWriteFloor(NOW), w: 1, by: 'r1'}
    expect(await codeOf(adoptClusterWriteFloor(ctx, parseLowestW('2'), async () => void (await store.put(ctx.keys.writeFloor, JSON.stringify(theirs)))))).toBe('ALREADY_EXISTS')
    expect(await floor()).toEqual(theirs)
  })

  it('a floor created between the last read and the write (the transaction\'s own compare) wins too', async () => {
    const {ctx, store, floor} = await oldCluster()
    const gate = store.faults.hold({op: 'txn', key: ctx.keys.writeFloor})
    const adopting = codeOf(adoptClusterWriteFloor(makeServiceContext(store.connect(), {cluster: 'adopt'}), parseLowestW('majority'), yes))
    await gate.reached
    const theirs = {...newWriteFloor(NOW), w: 1, by: 'r1'}
    await store.put(ctx.keys.writeFloor, JSON.stringify(theirs))
    gate.release()
    expect(await adopting).toBe('ALREADY_EXISTS')
    expect(await floor()).toEqual(theirs)
  })

  it('a lower router registering while the operator is asked: CONFLICT, nothing written (the shown floor is no longer what would be written)', async () => {
    const {ctx, store, register} = await oldCluster()
    expect(await codeOf(adoptClusterWriteFloor(ctx, parseLowestW('2'), async () => void (await register('r-1', 1))))).toBe('CONFLICT')
    expect(await store.get(ctx.keys.writeFloor)).toBeUndefined()
  })

  it('a router that registers just as the floor is written (it read the floor absent) lowers it afterwards, as it would have', async () => {
    const {ctx, store, floor, register} = await oldCluster()
    const gate = store.faults.hold({op: 'txn', key: ctx.keys.writeFloor})
    const adopting = adoptClusterWriteFloor(makeServiceContext(store.connect(), {cluster: 'adopt'}), parseLowestW('2'), yes)
    await gate.reached
    await register('r-late', 1)
    gate.release()
    expect(await adopting).toMatchObject({floor: {w: 1}, loweredAfter: ['r-late']})
    expect(await floor()).toMatchObject({w: 1, by: 'r-late', adopted: {lowestW: '2'}})
  })

  it('a failure lowering the written floor for a router that registered meanwhile says the floor was written, keeps its code, and does not say to start the router again', async () => {
    const {ctx, store, floor, register} = await oldCluster()
    const gate = store.faults.hold({op: 'txn', key: ctx.keys.writeFloor})
    const adopting = adoptClusterWriteFloor(makeServiceContext(store.connect(), {cluster: 'adopt'}), parseLowestW('2'), yes).catch((e: unknown) => e)
    await gate.reached
    await register('r-late', 1)
    // The adopt transaction is past its faults; the next write of the floor is the lowering for r-late.
    store.faults.fail({op: 'txn', key: ctx.keys.writeFloor})
    gate.release()
    const err = await adopting
    expect(isUserError(err, 'ETCD_UNREACHABLE')).toBe(true)
    if (!isUserError(err)) return
    const written = await store.get(ctx.keys.writeFloor)
    expect(err.message.startsWith(`the write floor was written at revision ${written!.createRevision}, but lowering it for router r-late failed: memory store: injected txn failure on `)).toBe(true)
    expect(err.message).not.toContain('\n')
    expect(err.hint).toMatch(/^check etcd, then `shardctl cluster status`: if the floor is above router r-late's --w \(it registered during adoption\), restarting router r-late makes it lower the floor itself if it is of this build$/)
    expect(`${err.message} ${err.hint}`).not.toContain('start the router again')
    expect(await floor()).toMatchObject({w: 2, adopted: {lowestW: '2'}})
  })

  it('a failure reading the routers after the write says the floor was written too', async () => {
    const {ctx, store} = await oldCluster()
    const gate = store.faults.hold({op: 'txn', key: ctx.keys.writeFloor})
    const adopting = adoptClusterWriteFloor(makeServiceContext(store.connect(), {cluster: 'adopt'}), parseLowestW('2'), yes).catch((e: unknown) => e)
    await gate.reached
    store.faults.fail({op: 'list', key: ctx.keys.routersPrefix})
    gate.release()
    const err = await adopting
    expect(isUserError(err, 'ETCD_UNREACHABLE')).toBe(true)
    expect(isUserError(err) && err.message).toMatch(/^the write floor was written at revision \d+, but reading the registered routers \(to lower it for any that registered during adoption\) failed: memory store: injected list failure/)
    expect(await store.get(ctx.keys.writeFloor)).toBeDefined()
  })

  it('a cluster that does not exist is NOT_FOUND', async () => {
    const store = new MemoryStore()
    expect(await codeOf(adoptClusterWriteFloor(makeServiceContext(store, {cluster: 'none'}), parseLowestW('2'), yes))).toBe('NOT_FOUND')
  })
})
