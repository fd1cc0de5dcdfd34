import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {type UserError} from '../../src/errors/errors.js'
import {conflictsWithUnfinished, type UnfinishedMove} from '../../src/executor/unfinishedConflicts.js'
import {EXIT_CODES} from '../../src/errors/codes.js'
import {assertPlanCheck, computePlan} from '../../src/plans/planService.js'
import {snapshotOf} from '../planner/snapshotBuilder.js'
import {errorOf} from '../support/errorOf.js'

let dir: string
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'shardctl-planservice-'))))
afterEach(() => rmSync(dir, {recursive: true, force: true}))

const now = new Date('2026-01-02T03:04:05.678Z')
const shard = (node: string, reads = 10) => ({replicas: [node], reads, bytes: 100})
/** run plans `snap` and adds the conflicts `apply` would find with `unfinished` (every shard at epoch 1). */
function run(snap: ReturnType<typeof snapshotOf>, options: Parameters<typeof computePlan>[1], unfinished: UnfinishedMove[]) {
  const r = computePlan(snap, options, {now, cwd: dir, write: false})
  return {...r, conflicts: conflictsWithUnfinished(r.plan, unfinished, () => 1, () => false)}
}
const pendingTo = (node: string, from: string, shardId = 99): UnfinishedMove => ({id: `a-${shardId}`, plan: 'a', shard: shardId, from, to: node, phase: 'pending', baseEpoch: 1, cancelRequested: false})

describe('assertPlanCheck (`plan --check`)', () => {
  // Node a holds 5 of 6 shards, b none: the plan moves shards off a, first to the empty b.
  const skewed = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}, {id: 'c'}], shards: [shard('a'), shard('a'), shard('a'), shard('a'), shard('a'), shard('c')]})

  it('Given a plan that reaches the target and conflicts with another plan\'s unfinished move, Then it fails CONFLICT (exit 7) with the line apply refuses it with, not NEEDS_REBALANCE', () => {
    const r = run(skewed, {}, [pendingTo('b', 'c')])
    expect(r.plan.summary.status).toBe('needs-rebalance')
    expect(r.conflicts.length).toBeGreaterThan(0)
    const err = errorOf(() => assertPlanCheck(r)) as UserError
    expect(err.code).toBe('CONFLICT')
    expect(EXIT_CODES[err.code]).toBe(7)
    expect(err.message).toMatch(/^plan test-\S+ conflicts with 1 unfinished move\(s\) of plan a: its action 1 \(shard \d+ a -> b\) and move a-99 \(shard 99 c -> b, pending\) both change node b/)
    expect(err.hint).toContain('shardctl apply --resume')
  })

  it('Given a plan that stops short of the target and conflicts, Then CONFLICT comes first too (apply refuses it whatever its status)', () => {
    const r = run(skewed, {maxMoves: 1}, [pendingTo('b', 'c')])
    expect(r.plan.summary.status).toBe('unreachable')
    expect(errorOf(() => assertPlanCheck(r)).code).toBe('CONFLICT')
  })

  it('Given unfinished moves on nodes the plan does not touch, or none, Then the balance verdict is unchanged (10, 11, or passes)', () => {
    expect(errorOf(() => assertPlanCheck(run(skewed, {}, [pendingTo('y', 'x')]))).code).toBe('NEEDS_REBALANCE')
    expect(errorOf(() => assertPlanCheck(run(skewed, {maxMoves: 1}, []))).code).toBe('UNREACHABLE_TARGET')
    const balanced = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}], shards: [shard('a'), shard('b')]})
    expect(() => assertPlanCheck(run(balanced, {}, [pendingTo('b', 'a')]))).not.toThrow()
  })

  it('computePlan (from a snapshot file, which holds no moves) reports no conflicts', () => {
    expect(computePlan(skewed, {}, {now, cwd: dir, write: false}).conflicts).toEqual([])
  })
})
