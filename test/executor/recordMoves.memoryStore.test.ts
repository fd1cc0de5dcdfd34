import {describe, expect, it} from 'vitest'
import {getMeta, listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../src/cluster/snapshotService.js'
import {type ExecutorEvent} from '../../src/executor/executorEnv.js'
import {readRecordings, unrecordedText} from '../../src/executor/moveRecording.js'
import {unrecordedPlans} from '../../src/executor/moveViews.js'
import {listMoves} from '../../src/executor/moveStore.js'
import {type Plan, type PlanAction, sealPlan} from '../../src/model/plan.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {type Txn} from '../../src/store/store.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {fakeClock, fakeClockApply} from './fixtures.js'

/**
 * `apply` dies (SIGKILL) while it records a plan's moves: a plan of more moves than one etcd
 * transaction may hold (128 operations) is recorded in several. The dying process is a
 * client of the shared memory store whose every write fails from the chosen transaction on
 * (that transaction lands nothing); the next executor is another client of the same store.
 * Node effects are fakes: a move runs its phases in etcd and copies nothing.
 */
const MOVES = 150

async function world() {
  const clock = fakeClock()
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'rec'}, () => new Date(clock.now))
  await initCluster(ctx, {shards: 2 * MOVES + 40, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102'), force: false})
  for (const id of ['n1', 'n2']) await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
  const shards = (await listShards(ctx)).shards.map((s) => s.value).filter((s) => s.replicas[0]!.node === 'n1')
  if (shards.length < MOVES) throw new Error(`n1 holds ${shards.length} shards, the test needs ${MOVES}`)
  const template = planRebalance(await readSnapshot(ctx), {}, {id: 'rec', createdAt: new Date(clock.now).toISOString()})
  const actions: PlanAction[] = shards.slice(0, MOVES).map((s) => ({kind: 'move', shard: s.id, epoch: s.epoch, from: 'n1', to: 'n2', bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}}))
  const plan: Plan = sealPlan({...template, id: 'big', actions})
  /** splitsOf are splits at their midpoints of the shards the big plan's actions `indexes` move, each piece taking the next free id. */
  const splitsOf = async (indexes: number[]): Promise<PlanAction[]> => {
    const {shards: now} = await listShards(ctx)
    let next = (await getMeta(ctx)).value.nextShardId
    return indexes.map((i) => {
      const s = now.find((x) => x.value.id === actions[i]!.shard)!.value
      const at = s.range.lo + Math.floor((s.range.hi - s.range.lo) / 2)
      const upper = next++
      return {kind: 'split', shard: s.id, epoch: s.epoch, at, parts: [{shard: s.id, range: {lo: s.range.lo, hi: at}, epoch: s.epoch + 1}, {shard: upper, range: {lo: at, hi: s.range.hi}, epoch: s.epoch + 1}], reason: {kind: 'split', detail: 'hot'}}
    })
  }
  const events: ExecutorEvent[] = []
  const apply = (c: ServiceContext, p: Plan | undefined, confirm: () => Promise<boolean> = async () => true, signal = new AbortController().signal) =>
    fakeClockApply(c, clock, {plan: p, limits: {maxConcurrent: 50, perNode: 50, incomingPerNode: 50}, confirm, emit: (ev) => events.push(ev), signal})
  return {
    ctx,
    plan,
    events,
    /**
     * applyKilledAt runs `apply plan` on its own client, which dies at its `n`th transaction
     * that records moves (`moves/` keys) or, with `what` 'list', at its first that writes the
     * list of the moves to record (`recording/`): that transaction lands nothing.
     */
    applyKilledAt: async (what: 'moves' | 'list', n = 1) => {
      const dying = store.connect()
      const commit = dying.commit.bind(dying)
      const prefix = what === 'moves' ? ctx.keys.movesPrefix : `${ctx.keys.prefix}recording/`
      let seen = 0
      let dead = false
      dying.commit = async (txn: Txn) => {
        const creates = (txn.puts ?? []).some((p) => p.key.startsWith(prefix)) && !txn.compares.some((c) => c.key.startsWith(ctx.keys.movesPrefix) && 'modRevision' in c)
        if (creates && ++seen === n) dead = true
        if (dead) throw new Error('killed (SIGKILL)')
        return commit(txn)
      }
      await expect(apply(makeServiceContext(dying, {cluster: 'rec'}, () => new Date(clock.now)), plan)).rejects.toThrow(/killed/)
      // The process is gone: its lease lapses.
      for (const id of store.leaseIds()) store.expireLease(id)
    },
    /**
     * applyHeldAt runs `apply plan` on its own client, alive, whose `n`th transaction that
     * records moves waits until `release` is called: a running apply caught between two
     * batches. `reached` resolves once it waits; `done` is the apply's result.
     */
    applyHeldAt: (n: number) => {
      const live = store.connect()
      const commit = live.commit.bind(live)
      let seen = 0
      let reach!: () => void
      let release!: () => void
      const reached = new Promise<void>((r) => (reach = r))
      const gate = new Promise<void>((r) => (release = r))
      live.commit = async (txn: Txn) => {
        const creates = (txn.puts ?? []).some((p) => p.key.startsWith(ctx.keys.movesPrefix)) && !txn.compares.some((c) => c.key.startsWith(ctx.keys.movesPrefix) && 'modRevision' in c)
        if (creates && ++seen === n) {
          reach()
          await gate
        }
        return commit(txn)
      }
      const done = apply(makeServiceContext(live, {cluster: 'rec'}, () => new Date(clock.now)), plan)
      return {reached, release, done}
    },
    resume: () => apply(ctx, undefined),
    /** resumeAnswered runs `apply --resume` whose confirmation `confirm` answers, with `signal` as its Ctrl-C. */
    resumeAnswered: (confirm: () => Promise<boolean>, signal?: AbortSignal) => apply(ctx, undefined, confirm, signal),
    /** applyOtherAnswered applies another plan (as applyOther) whose confirmation `confirm` answers. */
    applyOtherAnswered: async (id: string, indexes: number[], confirm: () => Promise<boolean>) => apply(ctx, sealPlan({...template, id, actions: await splitsOf(indexes)}), confirm),
    /** applyOtherMoving applies another plan that moves the shards of the given actions as the big plan does, under its own id. */
    applyOtherMoving: (id: string, indexes: number[]) => apply(ctx, sealPlan({...template, id, actions: indexes.map((i) => actions[i]!)})),
    /** bumpEpochOf is a writer that ignores the executor lock: it raises the epoch of the shard the big plan's action `index` moves. */
    bumpEpochOf: async (index: number) => {
      const s = (await listShards(ctx)).shards.find((x) => x.value.id === actions[index]!.shard)!.value
      await store.put(ctx.keys.shard(s.id), JSON.stringify({...s, epoch: s.epoch + 5}))
    },
    /**
     * applyOther applies another plan that splits the shards the given actions of the big plan
     * move (raising their epochs): it changes no node's load, so the big plan's unfinished
     * moves do not conflict with it, while its moves of those shards become stale.
     */
    applyOther: async (id: string, indexes: number[]) => apply(ctx, sealPlan({...template, id, actions: await splitsOf(indexes)})),
    applyAgain: () => apply(ctx, plan),
    /** applyMovingSpare applies another plan moving one shard of n1 that the big plan does not move to n2. */
    applyMovingSpare: async (id: string) => {
      const inBig = new Set(actions.map((a) => a.shard))
      const spare = (await listShards(ctx)).shards.map((x) => x.value).find((x) => x.replicas[0]!.node === 'n1' && !inBig.has(x.id))!
      return apply(ctx, sealPlan({...template, id, actions: [{kind: 'move', shard: spare.id, epoch: spare.epoch, from: 'n1', to: 'n2', bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}}]}))
    },
    moves: async () => (await listMoves(ctx)).map((m) => m.value).filter((m) => m.plan === 'big'),
  }
}

describe('apply killed while recording a plan of more moves than one transaction holds', () => {
  it('Given apply died after recording some of the moves, When another plan splits the shard of an unrecorded one first, Then that plan runs (an unstarted move of another plan does not block it), and the resume records the first plan\'s move and skips it at its start, saying why', async () => {
    const w = await world()
    await w.applyKilledAt('moves', 2)
    // A plan moving that shard to n2 as well is refused: the big plan's recorded moves still fill n2 after it.
    await expect(w.applyOtherMoving('mover', [MOVES - 1])).rejects.toThrow(/plan mover conflicts with \d+ unfinished move\(s\) of plan big: .* both change node n2/)
    const other = await w.applyOther('other', [MOVES - 1])
    expect(other.splits.map((x) => x.status)).toEqual(['done'])
    expect((await w.moves()).length).toBe(MOVES)
    const resumed = await w.resume()
    expect(resumed.counts).toEqual({done: MOVES - 1, skipped: 1})
    const skipped = resumed.moves.find((m) => m.phase === 'skipped')
    expect(skipped?.id).toBe(`big-${String(MOVES - 1).padStart(4, '0')}`)
    expect(skipped?.reason).toMatch(/epoch/)
  })

  it('Given apply died after recording some of the moves, When `apply --resume` runs, Then every move the plan named is recorded and runs to done, and the resume says it recorded the rest', async () => {
    const w = await world()
    await w.applyKilledAt('moves', 2)
    const before = await w.moves()
    expect(before.length).toBeGreaterThan(0)
    expect(before.length).toBeLessThan(MOVES)
    const result = await w.resume()
    expect(result.moves.length).toBe(MOVES)
    expect(result.counts).toEqual({done: MOVES})
    expect((await w.moves()).length).toBe(MOVES)
    expect(w.events.some((e) => e.type === 'info' && /recorded the \d+ move\(s\) of plan big that an interrupted apply left unrecorded/.test(e.message))).toBe(true)
    expect(await readRecordings(w.ctx)).toEqual([])
  })

  it('Given apply died after recording some of the moves, When the moves are listed, Then the plan shows as partly recorded, naming how many and `apply --resume`', async () => {
    const w = await world()
    await w.applyKilledAt('moves', 2)
    const recorded = (await w.moves()).length
    const unrecorded = await unrecordedPlans(w.ctx, 'big')
    expect(unrecorded).toEqual([{plan: 'big', named: MOVES, recorded, whole: true}])
    expect(unrecordedText(unrecorded[0]!)).toBe(`plan big: ${MOVES - recorded} of its ${MOVES} confirmed move(s) are not recorded yet (apply was stopped while recording them): \`shardctl apply --resume\` records and runs them`)
  })

  it('Given a running apply between two batches of recording its moves, When the moves are listed, Then the plan shows as being recorded by that apply (naming it), not as stopped with `apply --resume` advice', async () => {
    const w = await world()
    const running = w.applyHeldAt(2)
    await running.reached
    const unrecorded = await unrecordedPlans(w.ctx, 'big')
    expect(unrecorded).toHaveLength(1)
    const r = unrecorded[0]!
    expect(r).toMatchObject({plan: 'big', named: MOVES, whole: true, recordingBy: expect.stringMatching(/^test \(pid \d+ on /)})
    expect(unrecordedText(r)).toBe(`plan big: ${MOVES - r.recorded} of its ${MOVES} confirmed move(s) are not recorded yet: they are being recorded by a running apply (${r.recordingBy})`)
    expect(unrecordedText(r)).not.toMatch(/stopped|--resume/)
    running.release()
    expect((await running.done).counts).toEqual({done: MOVES})
    expect(await unrecordedPlans(w.ctx)).toEqual([])
  })

  it('Given apply died after recording some of the moves, When another executor holds the lock now (a resume waiting for its confirmation), Then the plan still shows as stopped, with the `apply --resume` advice', async () => {
    const w = await world()
    await w.applyKilledAt('moves', 2)
    let answer!: (yes: boolean) => void
    let asked!: () => void
    const asking = new Promise<void>((r) => (asked = r))
    const resume = w.resumeAnswered(() => (asked(), new Promise<boolean>((r) => (answer = r))))
    await asking
    expect(await w.ctx.store.get(w.ctx.keys.executorLock)).toBeDefined()
    const [r] = await unrecordedPlans(w.ctx, 'big')
    expect(r?.recordingBy).toBeUndefined()
    expect(unrecordedText(r!)).toMatch(/apply was stopped while recording them\): `shardctl apply --resume` records and runs them$/)
    answer(true)
    expect((await resume).counts).toEqual({done: MOVES})
  })

  it('Given apply died after recording some of the moves, When the same plan is applied again, Then it is not "applied already" with a part of it: all its moves run', async () => {
    const w = await world()
    await w.applyKilledAt('moves', 2)
    const result = await w.applyAgain()
    expect(result.counts).toEqual({done: MOVES})
    expect(w.events.some((e) => e.type === 'info' && /was applied already/.test(e.message))).toBe(false)
  })

  it('Given apply died before any move was recorded (while writing the list of the moves to record), When the plan is applied again, Then it is preflighted and recorded afresh, every move done, nothing left of the interrupted list', async () => {
    const w = await world()
    await w.applyKilledAt('list')
    expect(await w.moves()).toEqual([])
    const result = await w.applyAgain()
    expect(result.counts).toEqual({done: MOVES})
    expect(await readRecordings(w.ctx)).toEqual([])
  })

  it('Given apply died after recording some of the moves, When the next `apply --resume` is declined, or another plan\'s apply is declined, Then nothing is recorded: the declined run changes nothing, and the list is still there for the resume', async () => {
    const w = await world()
    await w.applyKilledAt('moves', 2)
    const before = await readRecordings(w.ctx)
    expect(before).toHaveLength(1)
    const declined = await w.resumeAnswered(async () => false)
    expect(declined.moves).toEqual([])
    const other = await w.applyOtherAnswered('other', [MOVES - 1], async () => false)
    expect(other.moves).toEqual([])
    expect(await readRecordings(w.ctx)).toEqual(before)
    expect((await w.moves()).length).toBe(before[0]!.recorded)
    expect(w.events.some((e) => e.type === 'info' && /recorded the \d+ move\(s\)/.test(e.message))).toBe(false)
    // Answered yes, the resume records and runs them all.
    const result = await w.resumeAnswered(async () => true)
    expect(result.counts).toEqual({done: MOVES})
  })

  it('Given apply died after recording some of the moves, When the next `apply --resume` is stopped (Ctrl-C) while its confirmation is answered, Then it records nothing ("stopped before this run split, recorded or started anything" is true)', async () => {
    const w = await world()
    await w.applyKilledAt('moves', 2)
    const before = await readRecordings(w.ctx)
    const ctrlC = new AbortController()
    const stopped = await w.resumeAnswered(async () => (ctrlC.abort(), true), ctrlC.signal)
    expect(stopped.stopped).toBe(true)
    expect(await readRecordings(w.ctx)).toEqual(before)
    expect((await w.moves()).length).toBe(before[0]!.recorded)
  })

  it('Given apply died after writing the whole list and before recording any move, When the same plan is applied again, Then it completes the list (not a fresh preflight that would record the moves a second time) and every move runs once', async () => {
    const w = await world()
    await w.applyKilledAt('moves', 1)
    expect(await w.moves()).toEqual([])
    expect(await readRecordings(w.ctx)).toEqual([{plan: 'big', named: MOVES, recorded: 0, whole: true}])
    const result = await w.applyAgain()
    expect(result.counts).toEqual({done: MOVES})
    expect(await readRecordings(w.ctx)).toEqual([])
  })

  // Found by the s24 sweep hunt: the identity check read only the recorded moves, and a plan with
  // a whole list counts as recorded. Another plan under that id (two plans computed in the same
  // millisecond) was neither preflighted nor checked for conflicts: the run recorded and ran the
  // listed plan's moves and reported them as this plan's, none of this plan's own having run.
  it('Given apply died after listing its moves and before recording any, When a different plan carrying the same id is applied, Then it is refused (BAD_INPUT) naming a listed move, and nothing changes: the list is left for the resume', async () => {
    const w = await world()
    await w.applyKilledAt('moves', 1)
    const before = await readRecordings(w.ctx)
    expect(before[0]).toMatchObject({plan: 'big', whole: true, recorded: 0})
    await expect(w.applyMovingSpare('big')).rejects.toThrow(/plan big is not the plan recorded under that id: its recorded move big-0000 \(action 1\)/)
    expect(await readRecordings(w.ctx)).toEqual(before)
    expect(await listMoves(w.ctx)).toEqual([])
  })

  it('Given apply died after listing its moves and before recording any, When another plan moves another shard to the same node, Then it is refused with CONFLICT (the resume would still record and run the listed moves after it), and the list is left for the resume', async () => {
    const w = await world()
    await w.applyKilledAt('moves', 1)
    expect(await w.moves()).toEqual([])
    const before = await readRecordings(w.ctx)
    expect(before[0]).toMatchObject({plan: 'big', whole: true, recorded: 0})
    await expect(w.applyMovingSpare('mover')).rejects.toThrow(/plan mover conflicts with \d+ unfinished move\(s\) of plan big: .* both change node n2/)
    expect(await readRecordings(w.ctx)).toEqual(before)
  })

  it('Given apply died after recording some of the moves, When another plan\'s apply is refused with CONFLICT (the map changed while it asked), Then the refusal changes nothing: the list is still there for the resume', async () => {
    const w = await world()
    await w.applyKilledAt('moves', 2)
    const before = await readRecordings(w.ctx)
    await expect(w.applyOtherAnswered('other', [MOVES - 1], async () => (await w.bumpEpochOf(MOVES - 1), true))).rejects.toThrow(/nothing was split or recorded/)
    expect(await readRecordings(w.ctx)).toEqual(before)
    expect((await w.moves()).length).toBe(before[0]!.recorded)
  })
})

