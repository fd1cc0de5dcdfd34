import {afterAll, afterEach, beforeAll, describe, expect, inject, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../../src/cluster/snapshotService.js'
import {type ExecutorEvent} from '../../../src/executor/executorEnv.js'
import {readRecordings} from '../../../src/executor/moveRecording.js'
import {listMoves} from '../../../src/executor/moveStore.js'
import {type Plan, type PlanAction, sealPlan} from '../../../src/model/plan.js'
import {type Shard} from '../../../src/model/shard.js'
import {planRebalance} from '../../../src/planner/planRebalance.js'
import {type Txn} from '../../../src/store/store.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'
import {fakeClock, fakeClockApply, markNodesAlive} from '../../executor/fixtures.js'

/**
 * `apply` killed while it records a plan of more moves than one etcd transaction may hold
 * (128 operations; a request of at most 1.5 MiB), on real etcd. The dying apply is its own
 * client whose writes fail from the chosen transaction on (that one lands nothing); its lease
 * is revoked (its lock released) as a dead process's would lapse. Node effects are fakes; nothing runs a move here:
 * the next executor is stopped once it has completed the records.
 */
const stores = new StoreSet()
let endpoint: string
let cluster: string
let ctx: ServiceContext
let onN1: Shard[]
let template: Plan

beforeAll(async () => {
  endpoint = inject('etcdEndpoint')
  cluster = uniqueCluster('record-moves')
  ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
  await initCluster(ctx, {shards: 9000, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102'), force: false})
  await markNodesAlive(ctx, ['n1', 'n2'])
  onN1 = (await listShards(ctx)).shards.map((s) => s.value).filter((s) => s.replicas[0]!.node === 'n1')
  if (onN1.length < 4250) throw new Error(`n1 holds ${onN1.length} shards; the tests need 4,250`)
  template = planRebalance(await readSnapshot(ctx), {}, {id: 'rec', createdAt: new Date().toISOString()})
}, 120_000)

afterAll(() => stores.closeAll())

// Nothing runs a move here: every record a test leaves is `pending`, the shard map untouched.
// They go after each test (100 keys a transaction), so the next test's plan on the same two
// nodes is not refused as conflicting with another plan's unfinished moves.
afterEach(async () => {
  const ids = (await listMoves(ctx)).filter((m) => m.value.phase === 'pending').map((m) => ctx.keys.move(m.value.id))
  for (let i = 0; i < ids.length; i += 100) await ctx.store.commit({compares: [], deletes: ids.slice(i, i + 100)})
}, 120_000)

function planOf(id: string, shards: Shard[]): Plan {
  const actions: PlanAction[] = shards.map((s) => ({kind: 'move', shard: s.id, epoch: s.epoch, from: 'n1', to: 'n2', bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}}))
  return sealPlan({...template, id, actions})
}

function apply(c: ServiceContext, plan: Plan | undefined, signal: AbortSignal, emit: (ev: ExecutorEvent) => void = () => {}) {
  return fakeClockApply(c, fakeClock(Date.now()), {plan, limits: {maxConcurrent: 4, perNode: 4}, emit, signal})
}

/** applyKilledAtBatch runs `apply plan` on its own client, which dies at its `n`th transaction creating move records (that one lands nothing). */
async function applyKilledAtBatch(plan: Plan, n: number): Promise<void> {
  const store = stores.open(endpoint, cluster)
  const commit = store.commit.bind(store)
  let seen = 0
  let dead = false
  store.commit = async (txn: Txn) => {
    if (txn.compares.some((c) => c.key.startsWith(ctx.keys.movesPrefix) && 'createRevision' in c) && ++seen === n) dead = true
    if (dead) throw new Error('killed (SIGKILL)')
    return commit(txn)
  }
  await expect(apply(makeServiceContext(store, {cluster}), plan, new AbortController().signal)).rejects.toThrow(/killed/)
  expect(dead).toBe(true)
}

/** resumeUntilRecorded runs `apply --resume` on the test's client and stops it once it has completed the interrupted records (no move starts). */
async function resumeUntilRecorded(): Promise<string[]> {
  const stop = new AbortController()
  const notes: string[] = []
  await apply(ctx, undefined, stop.signal, (ev) => {
    if (ev.type !== 'info') return
    notes.push(ev.message)
    if (/left unrecorded/.test(ev.message)) stop.abort()
  })
  return notes
}

describe('apply killed while recording a plan of many moves, on etcd', () => {
  it('Given apply died after its first batch of 100 move records (250 confirmed), When `apply --resume` runs, Then the other 150 are recorded pending as confirmed and the list is gone', async () => {
    const plan = planOf('big-250', onN1.slice(0, 250))
    await applyKilledAtBatch(plan, 2)
    const recorded = (await listMoves(ctx)).filter((m) => m.value.plan === plan.id)
    expect(recorded).toHaveLength(100)
    expect(await readRecordings(ctx)).toEqual([{plan: plan.id, named: 250, recorded: 100, whole: true}])
    const notes = await resumeUntilRecorded()
    expect(notes).toContain(`recorded the 150 move(s) of plan ${plan.id} that an interrupted apply left unrecorded (100 of its 250 were recorded)`)
    const after = (await listMoves(ctx)).filter((m) => m.value.plan === plan.id).map((m) => m.value)
    expect(after.map((m) => m.index)).toEqual(plan.actions.map((_, i) => i))
    expect(after.every((m) => m.phase === 'pending')).toBe(true)
    expect(await readRecordings(ctx)).toEqual([])
  })

  it('Given a plan of 4,000 moves (its list of records is about 2 MiB, more than etcd takes in one 1.5 MiB request), When apply dies at its first move batch, Then etcd holds the whole list and the resume records all 4,000', async () => {
    const plan = planOf('big-4000', onN1.slice(250, 4250))
    await applyKilledAtBatch(plan, 1)
    const list = await ctx.store.list(ctx.keys.recordingOf(plan.id))
    expect(list.items.reduce((n, kv) => n + kv.value.length, 0)).toBeGreaterThan(1.5 * 1024 * 1024)
    expect(await readRecordings(ctx)).toEqual([{plan: plan.id, named: 4000, recorded: 0, whole: true}])
    await resumeUntilRecorded()
    expect((await listMoves(ctx)).filter((m) => m.value.plan === plan.id)).toHaveLength(4000)
    expect(await readRecordings(ctx)).toEqual([])
  }, 60_000)

  /** applyLosingLeaseAt runs `apply plan` on its own client whose executor lease is revoked (as a stalled process's lapses) just before its `n`th transaction matching `what`; the apply goes on and its writes must be fenced off. */
  async function applyLosingLeaseAt(plan: Plan, what: (txn: Txn) => boolean, n: number): Promise<void> {
    const store = stores.open(endpoint, cluster)
    const commit = store.commit.bind(store)
    let seen = 0
    let revoked = false
    store.commit = async (txn: Txn) => {
      if (what(txn) && ++seen === n) {
        const lock = await store.get(ctx.keys.executorLock)
        if (lock) await store.revokeLease(lock.lease)
        revoked = true
      }
      return commit(txn)
    }
    await expect(apply(makeServiceContext(store, {cluster}), plan, new AbortController().signal)).rejects.toThrow(/lost its lock/)
    expect(revoked).toBe(true)
  }

  it('Given apply\'s lease lapses between the two requests writing a 4,000-move list, When it goes on writing, Then etcd refuses the rest (fenced on the lock): the list stays partial, no move is recorded, and the next executor deletes the partial list', async () => {
    const plan = planOf('fenced-list', onN1.slice(0, 4000))
    await applyLosingLeaseAt(plan, (txn) => (txn.puts ?? []).some((p) => p.key.startsWith(ctx.keys.recordingPrefix)), 2)
    expect(await readRecordings(ctx)).toEqual([{plan: plan.id, named: 0, recorded: 0, whole: false}])
    expect((await listMoves(ctx)).filter((m) => m.value.plan === plan.id)).toEqual([])
    const stop = new AbortController()
    await apply(ctx, undefined, stop.signal, (ev) => ev.type === 'info' && /deleted the unfinished list/.test(ev.message) && stop.abort())
    expect(await readRecordings(ctx)).toEqual([])
    expect((await listMoves(ctx)).filter((m) => m.value.plan === plan.id)).toEqual([])
  }, 60_000)

  it('Given apply\'s lease lapses between its first and second batch of move records (250 confirmed), When it goes on, Then the second batch is refused (fenced on the lock): 100 recorded, the whole list kept for the next executor', async () => {
    const plan = planOf('fenced-batch', onN1.slice(0, 250))
    await applyLosingLeaseAt(plan, (txn) => txn.compares.some((c) => c.key.startsWith(ctx.keys.movesPrefix) && 'createRevision' in c), 2)
    expect((await listMoves(ctx)).filter((m) => m.value.plan === plan.id)).toHaveLength(100)
    expect(await readRecordings(ctx)).toEqual([{plan: plan.id, named: 250, recorded: 100, whole: true}])
    await resumeUntilRecorded()
    expect((await listMoves(ctx)).filter((m) => m.value.plan === plan.id)).toHaveLength(250)
    expect(await readRecordings(ctx)).toEqual([])
  }, 60_000)
})

