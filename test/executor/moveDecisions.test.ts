import {describe, expect, it} from 'vitest'
import {decideMove, PHASE_STEPS} from '../../src/executor/moveMachine.js'
import {RETRY_POLICY} from '../../src/executor/retryPolicy.js'
import {MOVE_PHASES, PHASE_TABLE, type MovePhase} from '../../src/model/move.js'
import {readReplicas, type Shard, writeReplicas} from '../../src/model/shard.js'
import {moveOf, shardOf} from './fixtures.js'
import {type Fault, observationOf, runWorld, stepWorld, type World, worldOf} from './moveSimulator.js'

const NODES = ['a', 'b', 'c', 'd']
const start = () => worldOf(moveOf({shard: 1, from: 'a', to: 'd'}), shardOf(1, ['a', 'b', 'c']), NODES)
const voters = (s: Shard | undefined) => s?.replicas.map((r) => `${r.node}:${r.role}`).sort()
const ORIGINAL = voters(shardOf(1, ['a', 'b', 'c']))
const MOVED = voters(shardOf(1, ['b', 'c', 'd']))

/** snapshots records the world as persisted when each phase was first committed on the happy path (what a restarted executor reads). */
function happySnapshots(): Map<MovePhase, World> {
  const w = start()
  const out = new Map<MovePhase, World>([['pending', structuredClone(w)]])
  for (let i = 0; i < 200 && decideMove(observationOf(w)).kind !== 'terminal'; i++) {
    stepWorld(w)
    if (!out.has(w.move.phase)) out.set(w.move.phase, {...structuredClone(w), done: new Set(), failures: 0, tries: 0, effects: [], phases: [w.move.phase]})
  }
  return out
}

const FORWARD: MovePhase[] = ['pending', 'checked', 'joining', 'copying', 'promoting', 'verifying', 'cutover', 'release', 'draining', 'cleanup']

describe('the move machine, driven through its pure decision function', () => {
  it('has a step for every phase and a table row for every phase', () => {
    expect(Object.keys(PHASE_STEPS).sort()).toEqual([...MOVE_PHASES].sort())
    expect(Object.keys(PHASE_TABLE).sort()).toEqual([...MOVE_PHASES].sort())
  })

  it('walks a move from pending to done: destination emptied, barriers on each new epoch, copy, verify, drain, source dropped', () => {
    const w = start()
    runWorld(w)
    expect(w.phases).toEqual(['pending', 'checked', 'joining', 'copying', 'promoting', 'verifying', 'cutover', 'release', 'draining', 'cleanup', 'done'])
    // The promotion's barrier (promoting), then the same barrier again before the verification (verifying: cheap, every router is there).
    expect(w.effects).toEqual(['drop:d', 'barrier', 'copy', 'barrier', 'barrier', 'verify', 'barrier', 'barrier', 'drain', 'drop:a'])
    expect(voters(w.shard)).toEqual(MOVED)
    expect(w.shard!.epoch).toBe(5 + 5)
    expect(w.move.attempts).toBe(0)
    expect(w.move.cutoverAt).not.toBeNull()
  })

  it('runs each barrier on the right set: the joint write set, then the new set with the source outgoing, then the read set plus the leaving source', () => {
    const w = start()
    const barriers: string[][] = []
    runWorld(w, (d) => {
      if (d.kind === 'effect' && d.effect.type === 'barrier') barriers.push([...d.effect.nodes].sort())
      return undefined
    })
    expect(barriers).toEqual([
      ['a', 'b', 'c', 'd'],
      ['a', 'b', 'c', 'd'],
      ['a', 'b', 'c', 'd'],
      ['a', 'b', 'c', 'd'],
      ['a', 'b', 'c', 'd'],
    ])
  })

  it('verifies only after the destination was promoted and the barrier on that epoch passed: what the learner missed is on the source by then', () => {
    const w = start()
    const seen: string[] = []
    runWorld(w, (d, world) => {
      const dst = (s: Shard) => s.replicas.find((r) => r.node === 'd')?.role
      if (d.kind === 'effect' && d.effect.type === 'barrier') seen.push(`${world.move.phase}: barrier@${d.effect.shard.epoch}:${dst(d.effect.shard)}`)
      if (d.kind === 'effect' && d.effect.type === 'verify') seen.push(`${world.move.phase}: verify@${world.shard!.epoch}:${dst(d.effect.shard)}`)
      if (d.kind === 'commit' && d.transition.phase !== world.move.phase) seen.push(`commit ${d.transition.phase}${d.transition.shard ? `@${d.transition.shard.epoch}` : ''}`)
      if (d.kind === 'commit' && d.transition.phase === world.move.phase && d.transition.shard) seen.push(`${world.move.phase}: shard@${d.transition.shard.epoch}:${dst(d.transition.shard)}`)
      return undefined
    })
    expect(seen.slice(0, 10)).toEqual([
      'commit checked',
      'commit joining@6',
      'joining: barrier@6:learning',
      'commit copying',
      'promoting: shard@7:joining',
      'promoting: barrier@7:joining',
      'commit verifying',
      'verifying: barrier@7:joining',
      'verifying: verify@7:joining',
      'commit cutover@8',
    ])
  })

  it.each(FORWARD)('resumes from %s as a restarted executor sees it (no memory of done effects) and finishes the same way', (phase) => {
    const w = happySnapshots().get(phase)!
    expect(w.move.phase).toBe(phase)
    const first = decideMove(observationOf(w))
    // A phase with side effects runs them again first (they are idempotent); none is skipped.
    if (['joining', 'cutover', 'release'].includes(phase)) expect(first).toMatchObject({kind: 'effect', effect: {type: 'barrier'}})
    if (phase === 'copying') expect(first).toMatchObject({kind: 'effect', effect: {type: 'copy'}})
    // The first promoting snapshot still has the destination learning: it is promoted first.
    if (phase === 'promoting') expect(first).toMatchObject({kind: 'commit', transition: {phase: 'promoting', shard: {epoch: 7}}})
    // A verifying record was promoted and passed the barrier, which runs again (cheap) before the verification.
    if (phase === 'verifying') expect(first).toMatchObject({kind: 'effect', effect: {type: 'barrier', shard: {epoch: 7}}})
    if (phase === 'draining') expect(first).toMatchObject({kind: 'effect', effect: {type: 'drain'}})
    // A cleanup entered by this build records, fenced, that the source's drop is sent before it sends it (session 40).
    if (phase === 'cleanup') expect(first).toMatchObject({kind: 'commit', transition: {phase: 'cleanup'}, patch: {sourceDropSentAt: expect.any(String)}})
    runWorld(w)
    expect(w.move.phase).toBe('done')
    expect(voters(w.shard)).toEqual(MOVED)
    expect(w.shard!.epoch).toBe(10)
  })

  it('resumes a promoted destination (killed after the promotion, before its barrier passed) with the barrier on its epoch, and commits verifying only after it', () => {
    const w = happySnapshots().get('promoting')!
    stepWorld(w) // the promotion
    expect(w.move.phase).toBe('promoting')
    expect(w.shard!.replicas.find((r) => r.node === 'd')?.role).toBe('joining')
    // A restarted executor remembers nothing: the barrier again, no second promotion.
    expect(decideMove(observationOf({...w, done: new Set()}))).toMatchObject({kind: 'effect', effect: {type: 'barrier', shard: {epoch: 7}}})
    // Only once the barrier on the promoted epoch passed is `verifying` committed (no shard change).
    expect(decideMove(observationOf({...w, done: new Set([`barrier@${w.revision}`])}))).toEqual({kind: 'commit', transition: {phase: 'verifying'}})
  })

  it('sends a verifying record whose destination still learns (written by session 28\'s build: its copy committed verifying) back to promoting, then promotes, waits out the barrier, and verifies', () => {
    const w = happySnapshots().get('promoting')!
    w.move = {...w.move, phase: 'verifying'}
    w.phases = ['verifying']
    expect(w.shard!.replicas.find((r) => r.node === 'd')?.role).toBe('learning')
    // Nothing else changes: no shard change, no barrier, no verification first.
    expect(decideMove(observationOf(w))).toEqual({kind: 'commit', transition: {phase: 'promoting'}})
    const seen: string[] = []
    runWorld(w, (d) => {
      if (d.kind === 'effect') seen.push(`${d.effect.type}${d.effect.type === 'barrier' ? `@${d.effect.shard.epoch}` : ''}`)
      return undefined
    })
    expect(w.phases).toEqual(['verifying', 'promoting', 'verifying', 'cutover', 'release', 'draining', 'cleanup', 'done'])
    expect(seen.slice(0, 3)).toEqual(['barrier@7', 'barrier@7', 'verify'])
    expect(w.shard!.epoch).toBe(10)
  })

  it('the same from a fake copy that commits verifying (as session 28\'s copy did): the move takes the promotion path and still ends five epochs on', () => {
    const w = start()
    w.copyCommits = 'verifying'
    runWorld(w)
    expect(w.phases).toEqual(['pending', 'checked', 'joining', 'copying', 'verifying', 'promoting', 'verifying', 'cutover', 'release', 'draining', 'cleanup', 'done'])
    expect(w.effects).toEqual(['drop:d', 'barrier', 'copy', 'barrier', 'barrier', 'verify', 'barrier', 'barrier', 'drain', 'drop:a'])
    expect(w.shard!.epoch).toBe(10)
  })

  it('runs the barrier before verifying a record that session 28\'s build promoted within verifying (it may not have passed the barrier)', () => {
    const w = happySnapshots().get('promoting')!
    stepWorld(w) // the promotion, as session 28's build committed it: phase verifying
    w.move = {...w.move, phase: 'verifying'}
    w.done = new Set()
    expect(decideMove(observationOf(w))).toMatchObject({kind: 'effect', effect: {type: 'barrier', shard: {epoch: 7}}})
    const seen: string[] = []
    runWorld(w, (d) => {
      if (d.kind === 'effect') seen.push(d.effect.type)
      return undefined
    })
    expect(seen.slice(0, 2)).toEqual(['barrier', 'verify'])
    expect(w.move.phase).toBe('done')
  })

  it('resumes a move begun before destinations learned (destination joining from the start, epoch E+1): no promotion, the barrier in promoting, then verification, four epochs in all', () => {
    const move = moveOf({shard: 1, from: 'a', to: 'd', phase: 'copying', epoch: 6})
    const shard: Shard = {...shardOf(1, ['a', 'b', 'c']), epoch: 6, replicas: [...shardOf(1, ['a', 'b', 'c']).replicas, {node: 'd', role: 'joining'}]}
    const w = worldOf(move, shard, NODES)
    const seen: string[] = []
    runWorld(w, (d) => {
      if (d.kind === 'effect') seen.push(`${d.effect.type}${d.effect.type === 'barrier' ? `@${d.effect.shard.epoch}` : ''}`)
      return undefined
    })
    expect(w.phases).toEqual(['copying', 'promoting', 'verifying', 'cutover', 'release', 'draining', 'cleanup', 'done'])
    expect(seen.slice(0, 4)).toEqual(['copy', 'barrier@6', 'barrier@6', 'verify'])
    expect(voters(w.shard)).toEqual(MOVED)
    expect(w.shard!.epoch).toBe(9)
  })

  it('skips a move whose shard changed since the plan, and one whose checked state went stale while no executor ran', () => {
    const stale = worldOf(moveOf({shard: 1, from: 'a', to: 'd', baseEpoch: 4, epoch: 4}), shardOf(1, ['a', 'b', 'c']), NODES)
    runWorld(stale)
    expect(stale.phases).toEqual(['pending', 'skipped'])
    expect(stale.move.reason).toMatch(/changed since the plan/)
    const resumed = happySnapshots().get('checked')!
    resumed.shard = {...resumed.shard!, epoch: 6}
    runWorld(resumed)
    expect(resumed.phases.at(-1)).toBe('skipped')
    expect(resumed.move.reason).toMatch(/no longer valid when resumed/)
    expect(resumed.effects).toEqual([])
  })

  it('holds a pending move while paused or outside the window, but still honours a cancel', () => {
    const w = start()
    w.paused = true
    for (let i = 0; i < 5; i++) expect(stepWorld(w)).toMatchObject({kind: 'wait', reason: 'paused by operator'})
    w.paused = false
    w.inWindow = false
    expect(stepWorld(w)).toMatchObject({kind: 'wait', reason: 'outside the maintenance window'})
    w.move = {...w.move, cancelRequested: true}
    runWorld(w)
    expect(w.phases).toEqual(['pending', 'aborting', 'aborted'])
    expect(w.effects).toEqual([]) // never joined: nothing to drop
    expect(voters(w.shard)).toEqual(ORIGINAL)
  })

  it('retries a destination that is down before joining, counting attempts, then aborts without touching the shard', () => {
    const w = start()
    w.alive.delete('d')
    runWorld(w)
    expect(w.phases).toEqual(['pending', 'checked', 'aborting', 'aborted'])
    expect(w.move.attempts).toBe(RETRY_POLICY.maxAttempts)
    expect(w.move.reason).toMatch(/gave up after 8 attempts in checked: destination node "d" is not up/)
    expect(voters(w.shard)).toEqual(ORIGINAL)
    expect(w.shard!.epoch).toBe(5)
  })

  it('aborts when a barrier is never reached: the destination leaves the shard, then drops its partial copy', () => {
    const w = happySnapshots().get('joining')!
    const barrierFails: Fault = (d) => (d.kind === 'effect' && d.effect.type === 'barrier' ? {kind: 'retriable', message: 'barrier on shard 1 epoch 6 not reached: router r1 behind'} : undefined)
    runWorld(w, barrierFails)
    expect(w.phases).toEqual(['joining', 'aborting', 'aborted'])
    expect(w.effects.filter((e) => e !== 'barrier')).toEqual(['drop:d'])
    expect(voters(w.shard)).toEqual(ORIGINAL)
    expect(w.move.attempts).toBe(RETRY_POLICY.maxAttempts)
  })

  it('aborts at once, without counting an attempt, when the copy cannot go on (source or destination unreachable past its budget)', () => {
    const w = happySnapshots().get('copying')!
    let failedOnce = false
    runWorld(w, (d) => {
      if (d.kind === 'effect' && d.effect.type === 'copy' && !failedOnce) {
        failedOnce = true
        return {kind: 'abort-now', message: 'destination d unreachable while copying'}
      }
      return undefined
    })
    expect(w.phases).toEqual(['copying', 'aborting', 'aborted'])
    expect(w.move.reason).toBe('destination d unreachable while copying')
    expect(w.move.attempts).toBe(0)
    expect(voters(w.shard)).toEqual(ORIGINAL)
  })

  it('retries a verify mismatch with growing backoff, then aborts after the attempt bound; it never cuts over unverified', () => {
    const w = happySnapshots().get('verifying')!
    const waits: number[] = []
    const decisions = runWorld(w, (d) => (d.kind === 'effect' && d.effect.type === 'verify' ? {kind: 'retriable', message: 'replicas still differ'} : undefined))
    for (const d of decisions) if (d.kind === 'wait') waits.push(d.ms)
    expect(waits).toEqual([400, 800, 1600, 3200, 5000, 5000, 5000])
    expect(w.phases).toEqual(['verifying', 'aborting', 'aborted'])
    expect(w.phases).not.toContain('cutover')
  })

  it('waits for a down destination to drop its copy for as long as it takes (not counted), then finishes the abort', () => {
    const w = happySnapshots().get('copying')!
    w.move = {...w.move, cancelRequested: true}
    w.alive.delete('d')
    for (let i = 0; i < 50; i++) stepWorld(w)
    expect(w.move.phase).toBe('aborting')
    expect(w.move.attempts).toBe(0)
    expect(voters(w.shard)).toEqual(ORIGINAL) // writes went back to the old set at once
    w.alive.add('d')
    runWorld(w)
    expect(w.phases).toEqual(['copying', 'aborting', 'aborted'])
    expect(w.effects).toEqual(['drop:d'])
  })

  it('finishes an abort without a drop when the destination was removed from the cluster', () => {
    const w = happySnapshots().get('copying')!
    w.move = {...w.move, cancelRequested: true}
    w.alive.delete('d')
    w.registered.delete('d')
    const decisions = runWorld(w)
    expect(w.phases).toEqual(['copying', 'aborting', 'aborted'])
    expect(w.effects).toEqual([])
    expect(decisions.some((d) => d.kind === 'commit' && d.note?.includes('no longer registered'))).toBe(true)
  })

  it('stops at once when the executor lock is lost, and re-reads on a conflicting write', () => {
    const w = happySnapshots().get('cutover')!
    w.failure = {kind: 'conflict', message: 'move changed concurrently'}
    expect(stepWorld(w)).toEqual({kind: 'reread'})
    w.failure = {kind: 'lock-lost', message: 'the executor lost its lock'}
    expect(stepWorld(w)).toEqual({kind: 'stop'})
    expect(w.move.phase).toBe('cutover')
  })

  it.each(FORWARD)('cancel requested in %s: honoured before cutover (back to the old replicas), ignored after (the move finishes)', (phase) => {
    const w = happySnapshots().get(phase)!
    w.move = {...w.move, cancelRequested: true}
    runWorld(w)
    if (PHASE_TABLE[phase].cancel === 'accept') {
      expect(w.move.phase).toBe('aborted')
      expect(w.move.reason).toBe('cancelled by operator')
      expect(voters(w.shard)).toEqual(ORIGINAL)
      expect(w.phases).not.toContain('cutover')
    } else {
      expect(w.move.phase).toBe('done')
      expect(voters(w.shard)).toEqual(MOVED)
    }
  })

  it.each(FORWARD)('rollback requested in %s: honoured after cutover while the source has its copy, else not acted on', (phase) => {
    const w = happySnapshots().get(phase)!
    const without = decideMove(observationOf(w))
    w.move = {...w.move, rollbackRequested: true}
    if (PHASE_TABLE[phase].rollback === 'accept') {
      runWorld(w)
      expect(w.move.phase).toBe('rolledback')
      expect(voters(w.shard)).toEqual(ORIGINAL)
      expect(w.effects.at(-1)).toBe('drop:d')
      expect(w.phases).not.toContain('cleanup')
      // From release on the source missed writes: it is caught up before reads flip back.
      if (phase !== 'cutover') expect(w.effects).toContain('catch-up')
    } else {
      expect(decideMove(observationOf(w))).toEqual(without)
    }
  })

  it('fails a move whose abort hits a broken invariant, with the reason and the attempt counted, leaving the shard alone', () => {
    // The "destination" is already a voter: the machine must not remove it.
    const w = worldOf(moveOf({shard: 1, from: 'd', to: 'a', phase: 'aborting', reason: 'cancelled by operator'}), shardOf(1, ['a', 'b', 'c']), NODES)
    runWorld(w)
    expect(w.phases).toEqual(['aborting', 'failed'])
    expect(w.move.reason).toMatch(/^terminal error in aborting: cannot abort move p-0: a is already voter.*\(was: cancelled by operator\); needs an operator$/)
    expect(w.move.attempts).toBe(1)
    expect(voters(w.shard)).toEqual(ORIGINAL)
  })

  it('fails an abort that keeps failing after the attempt bound instead of retrying forever', () => {
    const w = happySnapshots().get('joining')!
    w.move = {...w.move, cancelRequested: true}
    runWorld(w, (d) => (d.kind === 'commit' && d.transition.phase === 'aborting' && d.transition.shard ? {kind: 'retriable', message: 'etcd request timed out'} : undefined))
    expect(w.phases).toEqual(['joining', 'aborting', 'failed'])
    expect(w.move.reason).toMatch(/abort could not finish after 8 attempts: etcd request timed out.*needs an operator/)
    expect(w.move.attempts).toBe(8)
  })

  it('fails, rather than guessing, when the shard disappears after cutover; aborts when it disappears before', () => {
    const after = happySnapshots().get('release')!
    after.shard = undefined
    runWorld(after)
    expect(after.phases).toEqual(['release', 'failed'])
    const before = happySnapshots().get('joining')!
    before.shard = undefined
    runWorld(before)
    expect(before.phases).toEqual(['joining', 'aborting', 'aborted'])
  })

  it('retries trouble past cutover without bound (it can only finish or roll back) and finishes once it passes', () => {
    const w = happySnapshots().get('cutover')!
    let n = 0
    runWorld(w, (d) => (d.kind === 'effect' && d.effect.type === 'barrier' && n++ < 30 ? {kind: 'retriable', message: 'barrier not reached'} : undefined))
    expect(n).toBeGreaterThan(30)
    expect(w.move.phase).toBe('done')
    expect(w.move.attempts).toBe(30)
  })

  it('never aborts a move that cut over, even when a step says to: it counts the attempt and retries', () => {
    for (const phase of ['cutover', 'release', 'draining', 'cleanup'] as const) {
      const w = happySnapshots().get(phase)!
      w.failure = {kind: 'abort-now', message: 'source a unreachable'}
      expect(stepWorld(w)).toMatchObject({kind: 'wait', retried: {counted: true}})
      expect(w.move.phase).toBe(phase)
      expect(w.move.attempts).toBe(1)
    }
  })

  it('keeps the joint write set through cutover: the shard always has as many readers as the replication factor', () => {
    for (const [, w] of happySnapshots()) {
      expect(readReplicas(w.shard!)).toHaveLength(3)
      expect(writeReplicas(w.shard!).length).toBeGreaterThanOrEqual(3)
    }
  })
})
