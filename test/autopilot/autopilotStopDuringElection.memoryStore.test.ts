import {describe, expect, it} from 'vitest'
import {initCluster} from '../../src/cluster/initCluster.js'
import {setNodeState} from '../../src/cluster/nodeService.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {listMoves} from '../../src/executor/moveStore.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {cleanOneCheckDirs, runOneAutopilotCheck, sleepCountingClock} from './oneAutopilotCheck.js'

/**
 * The autopilot is stopped (SIGTERM, the service's abort) while it takes the leadership lock.
 * The real runAutopilot on a memory store with fake node effects; n3 is draining, so a check
 * that runs would heal. Found by the s24 fault sweep (autopilotFaultSweep.memoryStore.test.ts):
 * lead() listened for the stop's abort event, which an already aborted signal never fires, so
 * the autopilot led on for ever, planning and moving data, deaf to its stop.
 */
cleanOneCheckDirs()

describe('autopilot: stopped while it takes the leadership lock', () => {
  it('Given the stop comes while the leadership lock is being taken, When the lock is won, Then the autopilot acts on nothing and returns, releasing the lock', async () => {
    const store = new MemoryStore()
    const stop = new AbortController()
    // Bounds the run without the fix: a few sleeps in, every lease lapses (which deposes a leader that ignores its stop).
    const clock = sleepCountingClock(1_000_000, 3, () => {
      for (const id of store.leaseIds()) store.expireLease(id)
    })
    const ctx = makeServiceContext(store, {cluster: 'apstopelect'}, () => new Date(clock.now))
    await initCluster(ctx, {shards: 6, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103'), force: false})
    for (const id of ['n1', 'n2', 'n3']) await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
    await setNodeState(ctx, 'n3', 'draining')
    const grant = store.grantLease.bind(store)
    store.grantLease = async (ttl) => {
      // The first grant is the leadership lock's: SIGTERM arrives as it is taken.
      stop.abort()
      return grant(ttl)
    }
    const events = await runOneAutopilotCheck(ctx, clock, {coolDownMs: 3_600_000, limit: 4, stop})
    expect(events.filter((e) => e.type === 'decision' || e.type === 'deposed')).toEqual([])
    expect(await listMoves(ctx)).toEqual([])
    expect(await store.get(`${ctx.keys.prefix}autopilot/lock`)).toBeUndefined()
  })
})
