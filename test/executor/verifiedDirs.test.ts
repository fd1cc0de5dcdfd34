import {describe, expect, it} from 'vitest'
import {decideMove, type MoveDecision, type MoveObservation} from '../../src/executor/moveMachine.js'
import {changedSince, claimsMatter, dirToken, type ObservedClaim, verifiedKey} from '../../src/executor/verifiedDirs.js'
import {type Move} from '../../src/model/move.js'
import {type Shard} from '../../src/model/shard.js'
import {moveOf, shardOf} from './fixtures.js'

// Shard 1 at rf 1 moving from a to d: the shapes of each phase the check runs in.
const joint: Shard = {...shardOf(1, ['a'], 7), replicas: [{node: 'a', role: 'voter'}, {node: 'd', role: 'joining'}]}
const cutOver: Shard = {...shardOf(1, ['a'], 8), replicas: [{node: 'a', role: 'outgoing'}, {node: 'd', role: 'voter'}]}
const rolledBack: Shard = {...shardOf(1, ['a'], 10), replicas: [{node: 'a', role: 'voter'}, {node: 'd', role: 'joining'}]}

const claim = (dir: string, rev: bigint): ObservedClaim => ({token: dirToken({dataDirId: dir, instance: `i-${dir}`}), modRevision: rev})
const BEFORE = new Map([['a', claim('A', 10n)], ['d', claim('D', 11n)]])
const D_EMPTY = new Map([['a', claim('A', 10n)], ['d', claim('D2', 20n)]])
const A_EMPTY = new Map([['a', claim('A2', 21n)], ['d', claim('D', 11n)]])
const VERIFIED = {a: dirToken({dataDirId: 'A', instance: 'i-A'})!, d: dirToken({dataDirId: 'D', instance: 'i-D'})!}

function observe(move: Partial<Move>, shard: Shard, claims: ReadonlyMap<string, ObservedClaim> | undefined, done: string[] = []): MoveObservation {
  return {
    move: moveOf({shard: 1, from: 'a', to: 'd', epoch: shard.epoch, cutoverAt: '2026-12-05T00:00:00.000Z', ...move}),
    shard: {value: shard, revision: 100n},
    registered: new Set(['a', 'd']),
    alive: new Set(['a', 'd']),
    control: {paused: false, inWindow: true},
    now: 1_000_000,
    done: new Set(done),
    failures: 0,
    tries: 0,
    ...(claims ? {claims} : {}),
  }
}

const barrierKey = 'barrier@100'

function effectOf(d: MoveDecision) {
  if (d.kind !== 'effect') throw new Error(`expected an effect, got ${JSON.stringify(d, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`)
  return d.effect
}

function commitOf(d: MoveDecision) {
  if (d.kind !== 'commit') throw new Error(`expected a commit, got ${d.kind}`)
  return d
}

describe('verifiedDirs: the pure helpers', () => {
  it('names a claim by data dir and process; judges only a node with a recorded token and a claim read now', () => {
    expect(dirToken({dataDirId: 'x', instance: 'y'})).toBe('x/y')
    expect(dirToken(undefined)).toBeUndefined()
    expect(changedSince(VERIFIED, 'd', BEFORE)).toBe(false)
    expect(changedSince(VERIFIED, 'd', D_EMPTY)).toBe(true)
    expect(changedSince(VERIFIED, 'd', new Map([['d', {token: undefined, modRevision: 0n}]]))).toBe(true) // removed since
    // The same dir id under a new process: a restored older copy accepted with --accept-empty-data keeps the dir id.
    expect(changedSince(VERIFIED, 'd', new Map([['d', {token: dirToken({dataDirId: 'D', instance: 'i-D-restarted'}), modRevision: 30n}]]))).toBe(true)
    expect(changedSince(undefined, 'd', D_EMPTY)).toBe(false) // cut over by a build before the check
    expect(changedSince(VERIFIED, 'd', undefined)).toBe(false) // claims not read
    expect(verifiedKey('verify', ['d', 'a'], BEFORE)).not.toBe(verifiedKey('verify', ['d', 'a'], D_EMPTY))
    expect(verifiedKey('verify', ['d', 'a'], BEFORE)).not.toBe(verifiedKey('verify', ['d', 'a'], A_EMPTY))
  })

  it('has the runner read claims from promoting on, through cutover and rollback, not before nor once terminal', () => {
    expect(['pending', 'checked', 'joining', 'copying', 'aborting', 'done', 'rolledback'].filter((p) => claimsMatter(p as Move['phase']))).toEqual([])
    expect(['promoting', 'verifying', 'cutover', 'release', 'draining', 'cleanup', 'rb-joining', 'rb-cutover'].every((p) => claimsMatter(p as Move['phase']))).toBe(true)
  })
})

describe('the move machine with the nodes\' claims in view', () => {
  it('verifies again before cutover once the destination restarted since the verification, and records and fences on the claims it verified', () => {
    const first = effectOf(decideMove(observe({phase: 'verifying'}, joint, BEFORE, [barrierKey])))
    expect(first.type).toBe('verify')
    const cut = commitOf(decideMove(observe({phase: 'verifying'}, joint, BEFORE, [barrierKey, first.key])))
    expect(cut.transition.phase).toBe('cutover')
    expect(cut.patch?.verifiedDirs).toEqual(VERIFIED)
    expect(cut.claimFences).toEqual([{node: 'd', modRevision: 11n}, {node: 'a', modRevision: 10n}])
    // The destination restarted on another dir after that verification: the one done no longer counts.
    const again = effectOf(decideMove(observe({phase: 'verifying'}, joint, D_EMPTY, [barrierKey, first.key])))
    expect(again.type).toBe('verify')
    expect(again.key).not.toBe(first.key)
  })

  it('refills a cut-over destination restarted since verification from the source before anything else, then records its claim in the same phase', () => {
    for (const phase of ['cutover', 'release', 'draining', 'cleanup'] as const) {
      const refill = effectOf(decideMove(observe({phase, verifiedDirs: VERIFIED}, cutOver, D_EMPTY, [barrierKey, 'drain'])))
      expect(refill).toMatchObject({type: 'verify', refill: true})
      const rec = commitOf(decideMove(observe({phase, verifiedDirs: VERIFIED}, cutOver, D_EMPTY, [barrierKey, 'drain', refill.key])))
      expect(rec.transition).toEqual({phase})
      expect(rec.patch).toMatchObject({verifiedDirs: {a: VERIFIED.a, d: 'D2/i-D2'}, cutoverAt: '2026-12-05T00:00:00.000Z'})
      expect(rec.claimFences).toEqual([{node: 'd', modRevision: 20n}])
    }
  })

  it('goes on as before while the claims are the verified ones, not read, or not recorded (a build before the check)', () => {
    for (const [verifiedDirs, claims] of [[VERIFIED, BEFORE], [VERIFIED, undefined], [undefined, D_EMPTY]] as const) {
      const d = decideMove(observe({phase: 'cleanup', ...(verifiedDirs ? {verifiedDirs} : {})}, cutOver, claims))
      expect(effectOf(d)).toMatchObject({type: 'drop', node: 'a'})
    }
  })

  it('rolls an outgoing source restarted since verification back through rb-joining (caught up before reads flip to it), else straight to rb-cutover', () => {
    const stale = commitOf(decideMove(observe({phase: 'cutover', rollbackRequested: true, verifiedDirs: VERIFIED}, cutOver, A_EMPTY)))
    expect(stale.transition.phase).toBe('rb-joining')
    expect(stale.transition.shard?.replicas).toEqual([{node: 'a', role: 'joining'}, {node: 'd', role: 'voter'}])
    const intact = commitOf(decideMove(observe({phase: 'cutover', rollbackRequested: true, verifiedDirs: VERIFIED}, cutOver, BEFORE)))
    expect(intact.transition.phase).toBe('rb-cutover')
  })

  it('catches a rolled-back source up again when it restarted after its catch-up, while the destination is still listed', () => {
    const d = effectOf(decideMove(observe({phase: 'rb-cutover', rollbackRequested: true, verifiedDirs: VERIFIED}, rolledBack, A_EMPTY)))
    expect(d.type).toBe('catch-up')
    const rec = commitOf(decideMove(observe({phase: 'rb-cutover', rollbackRequested: true, verifiedDirs: VERIFIED}, rolledBack, A_EMPTY, [d.key])))
    expect(rec.transition).toEqual({phase: 'rb-cutover'})
    expect(rec.patch?.verifiedDirs).toEqual({a: 'A2/i-A2', d: VERIFIED.d})
  })
})
