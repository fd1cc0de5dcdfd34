import {describe, expect, it} from 'vitest'
import {copyReplaced, repairedVotersLost} from '../../src/executor/keptCopyVerdict.js'
import {decideMove} from '../../src/executor/moveMachine.js'
import {changedSince, dataDirChanged, type ObservedClaim} from '../../src/executor/verifiedDirs.js'
import {judgeVotersAbandon} from '../../src/executor/votersAbandon.js'
import {NodeIdSchema} from '../../src/model/ids.js'
import {hasOwnKey, ownValue} from '../../src/model/ownKey.js'
import {type Shard} from '../../src/model/shard.js'
import {moveOf, shardOf} from './fixtures.js'
import {machineObservation} from './machineObservation.js'

/**
 * Records keyed by node id (verifiedDirs, a kept-copy repair's dirs, abandonVotersDirs) are plain objects parsed from JSON.
 * A node may be named `constructor` (NodeIdSchema allows it; `__proto__` it refuses), and `record[id]` then finds
 * Object.prototype's constructor: a dir "recorded" that never was, whose `.slice` throws a TypeError the move machine
 * does not turn into a failure (until session 42). Every such lookup goes through ownKey.ts.
 */
const claim = (token: string): ObservedClaim => ({token, modRevision: 1n})

describe('own-key lookups of records keyed by node id', () => {
  it('node ids: "constructor" and "toString" are valid, "__proto__" is refused (it starts with "_")', () => {
    expect(NodeIdSchema.safeParse('constructor').success).toBe(true)
    expect(NodeIdSchema.safeParse('toString').success).toBe(true)
    expect(NodeIdSchema.safeParse('__proto__').success).toBe(false)
  })

  it('ownValue and hasOwnKey see own keys only', () => {
    const rec: Record<string, string> = JSON.parse('{"a": "x", "__proto__": "p"}')
    expect(ownValue(rec, 'constructor')).toBeUndefined()
    expect(ownValue(rec, 'toString')).toBeUndefined()
    expect(ownValue(rec, 'a')).toBe('x')
    expect(ownValue(rec, '__proto__')).toBe('p')
    expect(hasOwnKey(rec, 'constructor')).toBe(false)
    expect(hasOwnKey(undefined, 'a')).toBe(false)
  })

  it('changedSince: a node "constructor" with no recorded token is not judged (was: changed, so refilled again and again)', () => {
    expect(changedSince({a: 'dir-a/i1'}, 'constructor', new Map([['constructor', claim('dir-c/i1')]]))).toBe(false)
  })

  it('dataDirChanged: a node "toString" with nothing recorded is not judged', () => {
    expect(dataDirChanged({a: 'dir-a/i1'}, 'toString', new Map([['toString', claim('dir-t/i1')]]))).toBe(false)
  })

  it('repairedVotersLost: a voter "constructor" the record holds no dir for is not judged (was: a TypeError)', () => {
    expect(repairedVotersLost({voters: ['constructor'], dirs: {}}, new Map([['constructor', claim('dir-c/i1')]]))).toEqual({lost: [], all: false})
  })

  it('copyReplaced: a destination "constructor" in rb-cutover with no verified dir is not judged (was: a TypeError)', () => {
    const move = moveOf({shard: 1, from: 'a', to: 'constructor', phase: 'rb-cutover', verifiedDirs: {a: 'dir-a/i1'}})
    expect(copyReplaced(move, new Map([['constructor', claim('dir-c/i1')]]))).toBe(false)
  })

  it('judgeVotersAbandon: a destination "constructor" with no verified dir is refused as serving what it was verified under (was: a TypeError)', () => {
    const shard = {...shardOf(1, ['b', 'c', 'constructor'], 9), replicas: [...shardOf(1, ['b', 'c', 'constructor'], 9).replicas, {node: 'a', role: 'leaving' as const}]}
    const move = moveOf({shard: 1, from: 'a', to: 'constructor', phase: 'cleanup', verifiedDirs: {a: 'dir-a/i1'}, sourceDropSentAt: 't'})
    const v = judgeVotersAbandon(move, {shard, alive: new Set(['c']), destinationClaim: 'dir-c2/i2', acceptDataLoss: true})
    expect(v.kind).toBe('refuse')
    expect(v.kind === 'refuse' && v.error.code).toBe('PRECONDITION')
  })

  it('an abort whose source "constructor" is up with no comparison recorded keeps and repairs from the destination\'s copy at w = 1 (was: dropped at once)', () => {
    const shard: Shard = shardOf(1, ['constructor', 'b', 'c'], 8)
    const move = moveOf({shard: 1, from: 'constructor', to: 'd', phase: 'aborting', epoch: 8, reason: 'cancelled', verifiedDirs: {d: 'dir-d/i1'}})
    const nodes = new Set(['constructor', 'b', 'c', 'd'])
    const o = machineObservation(move, shard, {registered: nodes, alive: nodes, writeQuorums: [1], claims: new Map([['constructor', claim('dir-s/i1')], ['d', claim('dir-d/i1')], ['b', claim('dir-b/i1')], ['c', claim('dir-c/i1')]])}, 60n)
    expect(decideMove(o)).toMatchObject({kind: 'effect', effect: {type: 'repair-from-copy'}})
  })

  it('a rollback\'s end with a source "constructor" and no verified dir for it does not throw', () => {
    const shard: Shard = shardOf(1, ['constructor', 'b', 'c'], 8)
    const move = moveOf({shard: 1, from: 'constructor', to: 'd', phase: 'rb-cutover', epoch: 8, cutoverAt: 't', verifiedDirs: {d: 'dir-d/i1'}})
    const nodes = new Set(['constructor', 'b', 'c', 'd'])
    const o = machineObservation(move, shard, {registered: nodes, alive: nodes, writeQuorums: [2], claims: new Map([['constructor', claim('dir-s/i1')], ['d', claim('dir-d/i1')]])}, 60n)
    expect(() => decideMove(o)).not.toThrow()
    expect(decideMove(o)).toMatchObject({kind: 'effect', effect: {type: 'drop', node: 'd'}})
  })
})
