import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {type FailureKind} from '../../src/executor/retryPolicy.js'
import {PHASE_TABLE, type MovePhase} from '../../src/model/move.js'
import {readReplicas, type Shard} from '../../src/model/shard.js'
import {moveOf, shardOf} from './fixtures.js'
import {type CommitHook, type Fault, runWorld, stepWorld, type World, worldOf} from './moveSimulator.js'

/**
 * ALLOWED is the protocol's transition graph, written out independently of the machine: a
 * committed phase change outside it is a bug. (A phase may also commit to itself: a shard
 * change within `aborting` or `rb-cutover`, or a counted attempt.)
 */
const ALLOWED: Record<MovePhase, MovePhase[]> = {
  pending: ['checked', 'skipped', 'aborting'],
  checked: ['joining', 'skipped', 'aborting'],
  joining: ['copying', 'aborting'],
  copying: ['promoting', 'aborting'],
  promoting: ['verifying', 'aborting'],
  // Back to promoting only from a record whose destination still learns (checked below).
  verifying: ['cutover', 'aborting', 'promoting'],
  cutover: ['release', 'rb-cutover', 'failed'],
  release: ['draining', 'rb-joining', 'failed'],
  draining: ['cleanup', 'rb-joining', 'failed'],
  cleanup: ['done', 'failed'],
  aborting: ['aborted', 'failed'],
  'rb-joining': ['rb-cutover', 'failed'],
  'rb-cutover': ['rolledback', 'failed'],
  done: [],
  aborted: [],
  skipped: [],
  failed: [],
  rolledback: [],
}

const NODES = ['a', 'b', 'c', 'd']
const sorted = (s: Shard | undefined) => s?.replicas.map((r) => `${r.node}:${r.role}`).sort()

type Event =
  | {type: 'step'; fault: FailureKind | null}
  | {type: 'cancel'}
  | {type: 'rollback'}
  | {type: 'down' | 'up'; node: string}
  | {type: 'pause' | 'resume'}
  | {type: 'restart'}

// Mostly clean steps, so runs get deep into the protocol; rare aborts, common transient trouble.
const faultArb: fc.Arbitrary<FailureKind | null> = fc.oneof(
  {weight: 30, arbitrary: fc.constant(null)},
  {weight: 6, arbitrary: fc.constant('retriable' as const)},
  {weight: 3, arbitrary: fc.constant('conflict' as const)},
  {weight: 2, arbitrary: fc.constant('waiting-for-node' as const)},
  {weight: 2, arbitrary: fc.constant('abort-now' as const)},
  {weight: 1, arbitrary: fc.constant('bug' as const)},
)
const eventArb: fc.Arbitrary<Event> = fc.oneof(
  {weight: 24, arbitrary: faultArb.map((fault) => ({type: 'step' as const, fault}))},
  {weight: 1, arbitrary: fc.constant({type: 'cancel' as const})},
  {weight: 1, arbitrary: fc.constant({type: 'rollback' as const})},
  {weight: 1, arbitrary: fc.record({type: fc.constantFrom('down' as const, 'up' as const), node: fc.constantFrom(...NODES)})},
  {weight: 1, arbitrary: fc.constantFrom({type: 'pause' as const}, {type: 'resume' as const})},
  {weight: 2, arbitrary: fc.constant({type: 'restart' as const})},
)

/**
 * TRACES: per world, the side effects that succeeded and the shard changes committed, with
 * the epoch and the destination's role (`barrier@7:joining`, `verify@7`, `shard@7`), to
 * check the order the learner's safety rests on.
 */
const TRACES = new WeakMap<World, string[]>()
const traceOf = (w: World) => TRACES.get(w) ?? (TRACES.set(w, []), TRACES.get(w)!)
const dstRole = (s: Shard | undefined) => s?.replicas.find((r) => r.node === 'd')?.role

/** traced is a fault hook that injects `fault` (or none) and records every effect that succeeds. */
const traced =
  (fault: FailureKind | null): Fault =>
  (d, w) => {
    if (fault) return {kind: fault, message: `injected ${fault}`}
    if (d.kind === 'effect' && (d.effect.type === 'barrier' || d.effect.type === 'verify')) {
      traceOf(w).push(d.effect.type === 'barrier' ? `barrier@${d.effect.shard.epoch}:${dstRole(d.effect.shard)}` : `verify@${w.shard?.epoch}`)
    }
    return undefined
  }

/** checkCommit asserts the safety invariants of one committed transition. */
const checkCommit: CommitHook = (before, d, w) => {
  if (d.transition.shard) traceOf(w).push(`shard@${d.transition.shard.epoch}`)
  const from = before.move.phase
  const to = w.move.phase
  if (from !== to) expect(ALLOWED[from], `${from} → ${to}`).toContain(to)
  if (from === 'verifying' && to === 'promoting') {
    expect(dstRole(before.shard)).toBe('learning')
    expect(d.transition.shard).toBeUndefined()
  }
  // No record is ever committed as `verifying` unless the barrier on the shard as it is now,
  // with the destination joining, passed after its last change, in this run or an earlier
  // one: an older executor that resumes a `verifying` record verifies and cuts over without
  // a barrier of its own (the mixed-build hazard `promoting` exists for).
  if (to === 'verifying' && from !== 'verifying') {
    const t = traceOf(w)
    const e = w.shard!.epoch
    expect(dstRole(w.shard), `${from} → verifying`).toBe('joining')
    const changed = t.lastIndexOf(`shard@${e}`)
    expect(changed, t.join(' ')).toBeGreaterThanOrEqual(0)
    expect(t.indexOf(`barrier@${e}:joining`, changed), `${from} → verifying: ${t.join(' ')}`).toBeGreaterThan(changed)
  }
  // Never fewer readers than the replication factor: no up-to-date voter is ever removed without a replacement.
  if (w.shard) expect(readReplicas(w.shard), `readers after ${from} → ${to}`).toHaveLength(3)
  // Reads flip to the destination only from verifying, after a copy and a verify that succeeded after it.
  const dstReads = (s: Shard | undefined) => s !== undefined && readReplicas(s).includes('d')
  if (!dstReads(before.shard) && dstReads(w.shard)) {
    expect(from).toBe('verifying')
    expect(w.effects.lastIndexOf('verify')).toBeGreaterThan(w.effects.lastIndexOf('copy'))
    expect(w.effects).toContain('copy')
    // The learner's missed writes are carried over only by a verification that ran after the
    // destination was promoted (joining) and the barrier on that very epoch passed, with no
    // shard change since: the verification must not have started while a router could still
    // acknowledge a write without the destination.
    const t = traceOf(w)
    const e = before.shard!.epoch
    expect(dstRole(before.shard)).toBe('joining')
    const promoted = t.lastIndexOf(`shard@${e}`)
    const fenced = t.indexOf(`barrier@${e}:joining`, promoted)
    expect(promoted, t.join(' ')).toBeGreaterThanOrEqual(0)
    expect(fenced, t.join(' ')).toBeGreaterThan(promoted)
    expect(t.indexOf(`verify@${e}`, fenced), t.join(' ')).toBeGreaterThan(fenced)
    // Shard changes after the promotion before this one: none (the flip is the next).
    expect(t.slice(promoted + 1, -1).filter((x) => x.startsWith('shard@')), t.join(' ')).toEqual([])
  }
  // The source leaves the shard only when the move is done, after the destination serves reads.
  const has = (s: Shard | undefined, n: string) => s?.replicas.some((r) => r.node === n) ?? false
  if (has(before.shard, 'a') && !has(w.shard, 'a')) {
    expect(to).toBe('done')
    expect(dstReads(w.shard)).toBe(true)
  }
  // A move that cut over is never aborted.
  if (PHASE_TABLE[from].cutOver) expect(to).not.toBe('aborting')
  expect(d.transition.phase).toBe(to)
}

function apply(w: World, ev: Event): void {
  switch (ev.type) {
    case 'step':
      stepWorld(w, traced(ev.fault), checkCommit)
      return
    // The executor is killed and a successor resumes: it remembers no effect of the phase.
    case 'restart':
      w.done = new Set()
      w.failures = 0
      w.tries = 0
      return
    // The operator's requests land only where `moves cancel` / `moves rollback` accept them.
    case 'cancel':
      if (PHASE_TABLE[w.move.phase].cancel === 'accept') w.move = {...w.move, cancelRequested: true}
      return
    case 'rollback':
      if (PHASE_TABLE[w.move.phase].rollback === 'accept') w.move = {...w.move, rollbackRequested: true}
      return
    case 'down':
      w.alive.delete(ev.node)
      return
    case 'up':
      w.alive.add(ev.node)
      return
    case 'pause':
    case 'resume':
      w.paused = ev.type === 'pause'
  }
}

/**
 * START: the records a run may begin from. Beside a new move, those older builds leave: a
 * copy of session 28's build committed `verifying` with the destination still learning (E+1);
 * its `verifying` step promoted the destination (E+2) and may have died before the barrier;
 * a move begun before destinations learned has the destination joining from E+1 (copying or
 * verifying, its barrier done then, by that build, but not in this trace). Each record's last
 * shard change is seeded into the trace, as the commit that made it, and a `verifying`
 * record's copy into the effects.
 */
type Start = 'new' | 'legacy-verifying-learning' | 'legacy-verifying-promoted' | 'pre-learner-copying' | 'pre-learner-verifying'
const startArb: fc.Arbitrary<Start> = fc.constantFrom('new', 'new', 'legacy-verifying-learning', 'legacy-verifying-promoted', 'pre-learner-copying', 'pre-learner-verifying')
function startWorld(start: Start): World {
  const base = shardOf(1, ['a', 'b', 'c'])
  const withDst = (role: 'learning' | 'joining', epoch: number): Shard => ({...base, epoch, replicas: [...base.replicas, {node: 'd', role}]})
  const at = (phase: MovePhase, shard: Shard) => worldOf(moveOf({shard: 1, from: 'a', to: 'd', phase, epoch: shard.epoch, copyStartedAt: 1}), shard, NODES)
  const w =
    start === 'new' ? worldOf(moveOf({shard: 1, from: 'a', to: 'd'}), base, NODES)
    : start === 'legacy-verifying-learning' ? at('verifying', withDst('learning', 6))
    : start === 'legacy-verifying-promoted' ? at('verifying', withDst('joining', 7))
    : start === 'pre-learner-copying' ? at('copying', withDst('joining', 6))
    : at('verifying', withDst('joining', 6))
  traceOf(w).push(`shard@${w.shard!.epoch}`)
  // A record past its copy was copied by the build that wrote it.
  if (w.move.phase === 'verifying') w.effects.push('copy')
  return w
}

describe('the move machine under any sequence of observations', () => {
  it('never commits an illegal transition, and once trouble stops every move reaches a terminal phase with a consistent shard', () => {
    fc.assert(
      fc.property(startArb, fc.array(eventArb, {maxLength: 150}), (start, events) => {
        const w = startWorld(start)
        for (const ev of events) {
          apply(w, ev)
          if (w.stopped) return // fenced out: the successor resumes (another run)
        }
        // Trouble ends: every node up, not paused. The move must finish, whatever happened.
        for (const n of NODES) w.alive.add(n)
        w.paused = false
        runWorld(w, traced(null), 500, checkCommit)
        const phase = w.move.phase
        expect(PHASE_TABLE[phase].terminal).toBe(true)
        if (phase === 'done') expect(sorted(w.shard)).toEqual(sorted(shardOf(1, ['b', 'c', 'd'])))
        if (phase === 'aborted' || phase === 'rolledback' || phase === 'skipped') expect(sorted(w.shard)).toEqual(sorted(shardOf(1, ['a', 'b', 'c'])))
        expect(readReplicas(w.shard!)).toHaveLength(3)
      }),
      {numRuns: 400},
    )
  }, 120_000)
})
