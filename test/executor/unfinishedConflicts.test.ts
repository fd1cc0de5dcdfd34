import {describe, expect, it} from 'vitest'
import {isUserError} from '../../src/errors/errors.js'
import {type MovePhase} from '../../src/model/move.js'
import {type PlanAction} from '../../src/model/plan.js'
import {moveOf} from './fixtures.js'
import {adoptable, adoptedMoves, conflictsVerdict, movesAdoptedBy, conflictsWithUnfinished, refuseConflicts, supersededMoves, UnfinishedConflictError, type UnfinishedMove, unfinishedMoveOf} from '../../src/executor/unfinishedConflicts.js'

const move = (shard: number, from: string, to: string, epoch = 1): PlanAction => ({kind: 'move', shard, epoch, from, to, bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}})
const other = (shard: number, from: string, to: string, phase: MovePhase = 'pending', baseEpoch = 1, plan = 'a', cancelRequested = false): UnfinishedMove => ({id: `${plan}-000${shard}`, plan, shard, from, to, phase, baseEpoch, cancelRequested})
const planB = (...actions: PlanAction[]) => ({id: 'b', actions})
/** conflictsWith checks against a map where every shard is still at epoch 1 (every move's base epoch here, unless said). */
/** noneDraining: no node is draining (no move is a heal). */
const noneDraining = () => false
const conflictsWith = (plan: ReturnType<typeof planB>, unfinished: UnfinishedMove[], epochOf: (shard: number) => number | undefined = () => 1) => conflictsWithUnfinished(plan, unfinished, epochOf, noneDraining)

describe('conflictsWithUnfinished', () => {
  it('Given another plan\'s pending move to n3 of another shard, When this plan moves a shard to n3 (or from it), Then that pair conflicts on n3', () => {
    expect(conflictsWith(planB(move(5, 'n2', 'n3')), [other(7, 'n1', 'n3')])).toMatchObject([{action: 0, shard: 5, node: 'n3', other: {id: 'a-0007'}}])
    expect(conflictsWith(planB(move(5, 'n3', 'n2')), [other(7, 'n1', 'n3')])).toMatchObject([{node: 'n3'}])
    expect(conflictsWith(planB(move(5, 'n1', 'n2')), [other(7, 'n1', 'n3', 'copying')])).toMatchObject([{node: 'n1'}])
  })

  it('Given another plan\'s move cancelled (or aborting) before its cutover, Then it conflicts with nothing: it ends aborted, its shard where the map has it (the way out the refusal names); cancelled past its cutover it still conflicts', () => {
    const plan = planB(move(5, 'n2', 'n3'))
    for (const phase of ['pending', 'checked', 'joining', 'copying', 'verifying'] as const) expect(conflictsWith(plan, [other(7, 'n1', 'n3', phase, 1, 'a', true)])).toEqual([])
    expect(conflictsWith(plan, [other(7, 'n1', 'n3', 'aborting')])).toEqual([])
    for (const phase of ['cutover', 'release', 'draining', 'cleanup', 'rb-joining'] as const) expect(conflictsWith(plan, [other(7, 'n1', 'n3', phase, 1, 'a', true)])).toHaveLength(1)
  })

  it('Given another plan\'s started move that this plan makes too (same shard, source and destination: a drain run again), Then it conflicts with nothing; moving that shard elsewhere still conflicts', () => {
    const drainAgain = planB(move(4, 'n2', 'n1'), move(2, 'n2', 'n1'))
    expect(conflictsWith(drainAgain, [other(4, 'n2', 'n1', 'copying')])).toEqual([])
    expect(conflictsWith(planB(move(4, 'n2', 'n3'), move(2, 'n2', 'n1')), [other(4, 'n2', 'n1', 'copying')]).map((c) => c.shard)).toEqual([2])
  })

  it('Given that same move rolling back (or with a rollback asked past its cutover), Then it conflicts like any other move: the rollback puts its shard back on the source the plan counted on emptying', () => {
    const drainAgain = planB(move(4, 'n2', 'n1'), move(2, 'n2', 'n1'))
    for (const phase of ['rb-joining', 'rb-cutover'] as const) expect(conflictsWith(drainAgain, [{...other(4, 'n2', 'n1', phase), rollbackRequested: true}]).map((c) => c.action)).toEqual([1])
    expect(conflictsWith(drainAgain, [{...other(4, 'n2', 'n1', 'release'), rollbackRequested: true}]).map((c) => c.action)).toEqual([1])
    // Cancelled or aborting before its cutover: its shard stays where the map has it, so still no conflict.
    expect(conflictsWith(drainAgain, [other(4, 'n2', 'n1', 'copying', 1, 'a', true), other(4, 'n2', 'n1', 'aborting')])).toEqual([])
  })

  it('Given moves on disjoint nodes, or the plan\'s own recorded moves, Then nothing conflicts', () => {
    expect(conflictsWith(planB(move(5, 'n1', 'n2')), [other(7, 'n3', 'n4')])).toEqual([])
    expect(conflictsWith(planB(move(5, 'n2', 'n3')), [other(7, 'n1', 'n3', 'pending', 1, 'b')])).toEqual([])
  })

  it('Given an unstarted move of another plan on a shard this plan moves first at the same epoch (an interrupted drain\'s queue), Then it conflicts with nothing: it is skipped when it starts', () => {
    const drainAgain = planB(move(1, 'd', 'n1'), move(2, 'd', 'n2'))
    for (const phase of ['pending', 'checked'] as const) expect(conflictsWith(drainAgain, [other(1, 'd', 'n2', phase), other(2, 'd', 'n1', phase)])).toEqual([])
  })

  it('Given the plan\'s first action on that shard will not run (stale at apply: a split whose new id is taken), Then that move still runs after the plan and conflicts with the plan\'s moves of other shards on its nodes', () => {
    const plan = planB(move(1, 'd', 'n1'), move(2, 'd', 'n2'))
    const moves = [other(1, 'd', 'n2')]
    expect(conflictsWithUnfinished(plan, moves, () => 1, noneDraining, (i) => i !== 0).map((c) => c.shard)).toEqual([2])
    expect(conflictsWithUnfinished(plan, moves, () => 1, noneDraining, () => true)).toEqual([])
  })

  it('Given such a move already started, or the plan expecting another epoch of its shard, Then it still runs after the plan and conflicts with the plan\'s moves of other shards on its nodes', () => {
    const plan = planB(move(1, 'd', 'n1'), move(2, 'd', 'n2'))
    expect(conflictsWith(plan, [other(1, 'd', 'n2', 'copying')]).map((c) => c.shard)).toEqual([2])
    expect(conflictsWith(plan, [other(1, 'd', 'n2', 'pending', 5)], () => 5).map((c) => c.shard)).toEqual([2])
  })

  it('Given an unstarted move of another plan whose shard is no longer at its base epoch (or gone), Then it conflicts with nothing: it is skipped when it starts; a started one still conflicts', () => {
    const plan = planB(move(2, 'd', 'n2'))
    expect(conflictsWith(plan, [other(1, 'd', 'n2', 'checked')], () => 5)).toEqual([])
    expect(conflictsWith(plan, [other(1, 'd', 'n2', 'pending')], () => undefined)).toEqual([])
    expect(conflictsWith(plan, [other(1, 'd', 'n2', 'copying')], () => 5).map((c) => c.shard)).toEqual([2])
  })

  // Found by the s25 heal hunt: every move raises its shard's epoch by EPOCH_STEPS.move, whoever
  // makes it, so another plan's second move of a shard (recorded at the epoch its first leaves)
  // runs once the shard gets there: it was taken for one skipped at its start.
  it('Given an unstarted move of another plan at an epoch its shard has not reached yet, Then it conflicts like a move at the shard\'s epoch, unless this plan acts on its shard at that epoch too (the sweep supersedes it then)', () => {
    const second = other(1, 'x', 'z', 'pending', 5)
    expect(conflictsWith(planB(move(2, 'x', 'z')), [second], () => 1)).toMatchObject([{action: 0, node: 'z', other: {id: 'a-0001'}}])
    // This plan's own first move of shard 1 takes it to epoch 5 as well: the second move still runs after it.
    expect(conflictsWith(planB(move(1, 'n1', 'y', 1), move(2, 'x', 'z')), [second], () => 1).map((c) => c.action)).toEqual([1])
    // This plan moves shard 1 at epoch 5 too: the later recording wins at that epoch.
    expect(conflictsWith(planB(move(1, 'n1', 'y', 1), move(1, 'x', 'w', 5), move(2, 'x', 'z')), [second], () => 1)).toEqual([])
  })

  // Found by the s24 heal review: a plan acting first on a shard a heal was taking off a dead
  // (draining) node was let past the heal's move, which it then had skipped: the shard kept its
  // replica on the dead node (at RF 2 one live copy) until the next heal.
  describe('a heal: another plan\'s unstarted move taking a shard off a draining node', () => {
    const drainingN1 = (node: string) => node === 'n1'
    const heal = other(7, 'n1', 'n3')
    const split = (shard: number): PlanAction => ({kind: 'split', shard, epoch: 1, at: 50, parts: [{shard, range: {lo: 0, hi: 50}, epoch: 2}, {shard: 99, range: {lo: 50, hi: 100}, epoch: 2}], reason: {kind: 'split', detail: 'hot'}})

    it('Given the plan moves another replica of that shard first (or splits it), Then the pair strands the shard on the node: a conflict naming the node', () => {
      expect(conflictsWithUnfinished(planB(move(7, 'n2', 'n4')), [heal], () => 1, drainingN1)).toEqual([{strands: true, action: 0, shard: 7, from: 'n2', to: 'n4', node: 'n1', other: heal}])
      expect(conflictsWithUnfinished(planB(split(7)), [heal], () => 1, drainingN1)).toEqual([{strands: true, action: 0, shard: 7, node: 'n1', other: heal}])
    })

    it('Given the plan takes the shard off that node itself (anywhere), or the node is not draining, or the move is cancelled or at another epoch, Then there is no conflict', () => {
      expect(conflictsWithUnfinished(planB(move(7, 'n1', 'n4')), [heal], () => 1, drainingN1)).toEqual([])
      expect(conflictsWithUnfinished(planB(move(7, 'n2', 'n4')), [heal], () => 1, noneDraining)).toEqual([])
      expect(conflictsWithUnfinished(planB(move(7, 'n2', 'n4')), [{...heal, cancelRequested: true}], () => 1, drainingN1)).toEqual([])
      expect(conflictsWithUnfinished(planB(move(7, 'n2', 'n4')), [{...heal, baseEpoch: 5}], () => 5, drainingN1)).toEqual([])
      expect(conflictsWithUnfinished(planB(move(7, 'n2', 'n4')), [heal], () => 1, drainingN1, () => false)).toEqual([])
    })

    it('Given the plan also fills the heal\'s destination with another shard, Then that pair is named too: refused, the heal still runs after the plan', () => {
      const c = conflictsWithUnfinished(planB(move(7, 'n2', 'n4'), move(8, 'n2', 'n3')), [heal], () => 1, drainingN1)
      expect(c.map((x) => `${x.action}:${'strands' in x ? 'strands' : 'node'}:${x.node}`)).toEqual(['0:strands:n1', '1:node:n3'])
    })

    it('refuseConflicts says the shard would keep its replica on the draining node, naming the heal move', () => {
      const verdict = conflictsVerdict('b', conflictsWithUnfinished(planB(move(7, 'n2', 'n4')), [heal], () => 1, drainingN1))!
      expect(verdict.message).toBe('plan b conflicts with 1 unfinished move(s) of plan a: its action 1 (shard 7 n2 -> n4) would have move a-0007 (shard 7 n1 -> n3, pending) skipped, which takes shard 7 off draining node n1: shard 7 would keep its replica on node n1')
      expect(verdict.hint).toContain('shardctl apply --resume')
      expect(conflictsVerdict('b', conflictsWithUnfinished(planB(split(7)), [heal], () => 1, drainingN1))!.message).toContain('its action 1 (split of shard 7) would have move a-0007')
    })
  })

  it('Given a pair on the same shard, Then it is left to the preflight (busy shard, or the epoch check at start)', () => {
    expect(conflictsWith(planB(move(7, 'n1', 'n2')), [other(7, 'n1', 'n3', 'copying')])).toEqual([])
  })

  it('refuseConflicts throws one CONFLICT line naming the first pair, the other plan, and the way out; nothing when there is no conflict', () => {
    expect(() => refuseConflicts('b', [])).not.toThrow()
    const err = (() => {
      try {
        refuseConflicts('b', conflictsWith(planB(move(5, 'n2', 'n3'), move(6, 'n1', 'n3')), [other(7, 'n1', 'n3')]))
      } catch (e) {
        return e
      }
    })()
    expect(isUserError(err, 'CONFLICT')).toBe(true)
    const e = err as Error & {hint: string}
    expect(e.message).toBe('plan b conflicts with 1 unfinished move(s) of plan a: its action 1 (shard 5 n2 -> n3) and move a-0007 (shard 7 n1 -> n3, pending) both change node n3, which the plan did not count on')
    expect(e.message).not.toContain('\n')
    expect(e.hint).toContain('shardctl apply --resume')
    expect(e.hint).toContain('shardctl moves cancel a-0007')
    // Its own class, with the moves in the way: a caller (the autopilot) tells it from apply's other CONFLICTs without reading the text.
    expect(err).toBeInstanceOf(UnfinishedConflictError)
    expect((err as UnfinishedConflictError).moves).toEqual(['a-0007'])
    expect((err as UnfinishedConflictError).plans).toEqual(['a'])
  })

  it('conflictsVerdict is null without conflicts, else the very message and hint refuseConflicts throws', () => {
    expect(conflictsVerdict('b', [])).toBeNull()
    const c = conflictsWith(planB(move(5, 'n2', 'n3')), [other(7, 'n1', 'n3')])
    const thrown = (() => {
      try {
        refuseConflicts('b', c)
      } catch (e) {
        return e as Error & {hint: string}
      }
    })()
    expect(conflictsVerdict('b', c)).toEqual({message: thrown!.message, hint: thrown!.hint})
  })

  it('unfinishedMoveOf keeps what the check reads and drops the rest of a move record (progress, timestamps), changing no verdict', () => {
    const record = {...other(7, 'n1', 'n3', 'copying'), index: 0, epoch: 2, progress: {copiedKeys: 5}, reason: null, attempts: 0, createdAt: 't', updatedAt: 't'}
    expect(unfinishedMoveOf(record)).toEqual(other(7, 'n1', 'n3', 'copying'))
    const plan = planB(move(5, 'n2', 'n3'))
    expect(conflictsWith(plan, [unfinishedMoveOf(record)]).map((x) => x.action)).toEqual(conflictsWith(plan, [record]).map((x) => x.action))
  })
})

describe('adoptable', () => {
  const same = (phase: MovePhase, over: {cancelRequested?: boolean; rollbackRequested?: boolean; plan?: string} = {}) => ({plan: 'a', shard: 4, from: 'n2', to: 'n1', phase, cancelRequested: false, rollbackRequested: false, ...over})
  const drainAgain = planB(move(4, 'n2', 'n1'))

  it('Given another plan\'s move this plan makes too, still on its way (forward, no cancel or rollback asked), Then this plan\'s apply runs it', () => {
    for (const phase of ['pending', 'checked', 'joining', 'copying', 'verifying', 'cutover', 'release', 'draining', 'cleanup'] as const) expect(adoptable(drainAgain, same(phase))).toBe(true)
  })

  it('Given it is aborting, rolling back, or has a cancel or rollback asked, Then it is not run (it does not make the move: left to apply --resume); nor this plan\'s own, another move, or a finished one', () => {
    for (const phase of ['aborting', 'rb-joining', 'rb-cutover', 'done', 'aborted', 'skipped', 'failed', 'rolledback'] as const) expect(adoptable(drainAgain, same(phase))).toBe(false)
    expect(adoptable(drainAgain, same('copying', {cancelRequested: true}))).toBe(false)
    expect(adoptable(drainAgain, same('release', {rollbackRequested: true}))).toBe(false)
    expect(adoptable(drainAgain, same('copying', {plan: 'b'}))).toBe(false)
    expect(adoptable(drainAgain, {...same('copying'), to: 'n3'})).toBe(false)
  })
})

describe('adoptedMoves', () => {
  const at = (rev: number, plan: string, phase: MovePhase = 'copying') => ({createRevision: BigInt(rev), value: moveOf({id: `${plan}-0000`, plan, shard: 4, from: 'n2', to: 'n1', phase})})

  it('Given another plan\'s identical move recorded before this plan\'s own record of it, Then it is run; recorded after it (a finished plan applied again), Then it is not', () => {
    const plan = planB(move(4, 'n2', 'n1'))
    expect(adoptedMoves(plan, [at(10, 'a'), at(20, 'b', 'skipped')]).map((m) => m.value.id)).toEqual(['a-0000'])
    expect(adoptedMoves(plan, [at(20, 'b', 'done'), at(30, 'a', 'pending')])).toEqual([])
    // No record of this plan yet (not applied): nothing it counted on.
    expect(adoptedMoves(plan, [at(10, 'a')])).toEqual([])
  })

  it('movesAdoptedBy reads the plan\'s actions off its records (a stale one recorded skipped included), as its apply adopts: the same moves as adoptedMoves of the plan itself', () => {
    const plan = planB(move(4, 'n2', 'n1'), move(5, 'n2', 'n3'))
    const records = [at(10, 'a'), {...at(11, 'c'), value: {...at(11, 'c').value, shard: 5, to: 'n3'}}, at(20, 'b', 'skipped'), {...at(21, 'b'), value: {...at(21, 'b').value, id: 'b-0001', shard: 5, to: 'n3', phase: 'pending' as const}}, {...at(30, 'd'), value: {...at(30, 'd').value, shard: 5, to: 'n3'}}]
    expect(movesAdoptedBy('b', records).map((m) => m.value.id)).toEqual(['a-0000', 'c-0000'])
    expect(movesAdoptedBy('b', records)).toEqual(adoptedMoves(plan, records))
    expect(movesAdoptedBy('a', records)).toEqual([])
  })
})

describe('supersededMoves', () => {
  const superseded = <T extends Parameters<typeof supersededMoves>[0][number]>(moves: readonly T[]) => supersededMoves(moves, noneDraining)
  const rec = (rev: number, plan: string, shard: number, from: string, to: string, phase: MovePhase = 'pending', baseEpoch = 1, cancelRequested = false) => ({createRevision: BigInt(rev), value: {...other(shard, from, to, phase, baseEpoch, plan, cancelRequested), id: `${plan}-${rev}`}})

  it('Given an unstarted move and another plan\'s unstarted move of its shard at its epoch to elsewhere recorded after it, Then the earlier one is superseded by the later one (pending or checked)', () => {
    const q = rec(10, 'q', 7, 'n1', 'n2')
    const p = rec(20, 'p', 7, 'n1', 'n3')
    expect(superseded([q, p])).toEqual([{move: q, by: p}])
    const qc = rec(10, 'q', 7, 'n1', 'n2', 'checked')
    expect(superseded([p, qc])).toEqual([{move: qc, by: p}])
  })

  it('Given three plans\' moves of one shard at one epoch, Then the latest supersedes both others', () => {
    const [a, b, c] = [rec(10, 'a', 7, 'n1', 'n2'), rec(20, 'b', 7, 'n1', 'n3'), rec(30, 'c', 7, 'n1', 'n4')]
    expect(superseded([a, b, c]).map((s) => `${s.move.value.plan}<${s.by.value.plan}`)).toEqual(['a<c', 'b<c'])
  })

  // Every executor run sweeps every recorded move before it starts one: comparing each unstarted
  // move with every other (the first sweep) read them n² times, 5 s at 40,000 pending moves here.
  it('Given 4,000 unstarted moves of one plan, Then the sweep reads each move record a bounded number of times, not once per other move', () => {
    let reads = 0
    const moves = Array.from({length: 4000}, (_, i) => {
      const value = {plan: 'big', shard: i, from: 'n1', to: 'n2', phase: 'pending' as MovePhase, baseEpoch: 1, cancelRequested: false}
      return {
        createRevision: 10n,
        get value() {
          reads++
          return value
        },
      }
    })
    expect(superseded(moves)).toEqual([])
    expect(reads).toBeLessThan(20 * moves.length)
  })

  // A cancel of the later move (its apply killed before it recorded the earlier one skipped) does
  // not bring the earlier one back: the later plan's other moves still run, counted without it.
  it('Given the later move cancelled, Then it still supersedes the earlier one, as its apply would have recorded before the cancel', () => {
    const q = rec(10, 'q', 7, 'n1', 'n2')
    const p = rec(20, 'p', 7, 'n1', 'n3', 'pending', 1, true)
    expect(superseded([q, p])).toEqual([{move: q, by: p}])
  })

  // The heal wins (s24 heal review): superseded by another replica's move, the heal left the
  // shard on its draining (dead) node.
  it('Given a waiting move off a draining node (a heal) and other plans\' moves of its shard at its epoch, recorded before or after it, Then the heal supersedes them all; a later heal off that node supersedes it', () => {
    const drainingN1 = (node: string) => node === 'n1'
    const h = rec(10, 'h', 7, 'n1', 'n3')
    const p = rec(20, 'p', 7, 'n2', 'n4')
    const q = rec(5, 'q', 7, 'n2', 'n3')
    expect(supersededMoves([h, p], drainingN1)).toEqual([{move: p, by: h}])
    expect(supersededMoves([q, h, p], drainingN1).map((x) => `${x.move.value.plan}<${x.by.value.plan}`)).toEqual(['q<h', 'p<h'])
    const h2 = rec(30, 'r', 7, 'n1', 'n4')
    expect(supersededMoves([h, p, h2], drainingN1).map((x) => `${x.move.value.plan}<${x.by.value.plan}`)).toEqual(['h<r', 'p<r'])
    // Not draining: the later-recorded move wins, as before.
    expect(supersededMoves([h, p], noneDraining)).toEqual([{move: h, by: p}])
  })

  it('Given the heal cancelled, Then it wins nothing recorded after it: it aborts, moving nothing', () => {
    const drainingN1 = (node: string) => node === 'n1'
    const h = rec(10, 'h', 7, 'n1', 'n3')
    const p = rec(20, 'p', 7, 'n2', 'n4')
    expect(supersededMoves([rec(10, 'h', 7, 'n1', 'n3', 'pending', 1, true), p], drainingN1)).toEqual([])
    expect(supersededMoves([h, rec(15, 'p', 7, 'n2', 'n4', 'joining')], drainingN1)).toEqual([])
  })

  // Found by the s25 heal hunt: a later move off the node, cancelled after its apply was killed
  // before the sweep, let the earlier heal run, beside the later plan's other moves counted
  // without it (test/executor/healSupersession.memoryStore.test.ts has the whole story).
  it('Given a later move off that node cancelled, Then it still supersedes the heal and the other moves recorded before it, as its apply would have recorded before the cancel', () => {
    const drainingN1 = (node: string) => node === 'n1'
    const h = rec(10, 'h', 7, 'n1', 'n3')
    const q = rec(15, 'q', 7, 'n2', 'n3')
    const p = rec(20, 'p', 7, 'n1', 'n4', 'pending', 1, true)
    expect(supersededMoves([h, p], drainingN1)).toEqual([{move: h, by: p}])
    expect(supersededMoves([h, q, p], drainingN1).map((x) => `${x.move.value.plan}<${x.by.value.plan}`)).toEqual(['h<p', 'q<p'])
    // A move recorded after the cancelled one was let past a heal already skipped: it runs.
    const r = rec(30, 'r', 7, 'n2', 'n4')
    expect(supersededMoves([h, p, r], drainingN1).map((x) => `${x.move.value.plan}<${x.by.value.plan}`)).toEqual(['h<p'])
  })

  it('Given the later move started, the same move, at another epoch, of another shard or of the same plan, or the earlier one started or cancelled, Then nothing is superseded', () => {
    const q = rec(10, 'q', 7, 'n1', 'n2')
    for (const later of [rec(20, 'p', 7, 'n1', 'n3', 'copying'), rec(20, 'p', 7, 'n1', 'n2'), rec(20, 'p', 7, 'n1', 'n3', 'pending', 2), rec(20, 'p', 9, 'n1', 'n3'), rec(20, 'q', 7, 'n1', 'n3')]) expect(superseded([q, later])).toEqual([])
    for (const earlier of [rec(10, 'q', 7, 'n1', 'n2', 'joining'), rec(10, 'q', 7, 'n1', 'n2', 'pending', 1, true)]) expect(superseded([earlier, rec(20, 'p', 7, 'n1', 'n3')])).toEqual([])
    // Recorded before, not after: the later one is the earlier's to supersede, not the reverse.
    expect(superseded([rec(30, 'q', 7, 'n1', 'n2'), rec(20, 'p', 7, 'n1', 'n3')]).map((s) => s.move.value.plan)).toEqual(['p'])
  })
})
