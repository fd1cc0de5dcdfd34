import {describe, expect, it} from 'vitest'
import {parseClusterNodes, type RedisClusterNode} from '../../src/redis/clusterNodes.js'
import {type OpenSlotFacts, planOpenSlot} from '../../src/redis/openSlotDecision.js'

/**
 * planOpenSlot is `redis fix`'s whole per-slot decision, made on what the live masters say
 * (no I/O): who acts as each side, finish or roll back, and what changes after a failover
 * (no REPLACE, keys on both sides listed first, the target pointed at the successor, the
 * marks to put back on a refusal). Each case is one that fixOpenSlots meets on a real
 * cluster (test/integration/redis/redisFailoverFix, redisFixTargetDown, redisFixSourceFailedRmw).
 */
const S = 'a'.repeat(40)
const T = 'b'.repeat(40)
const U = 'c'.repeat(40)
const S2 = 'd'.repeat(40) // the replica that took over S
const T2 = 'e'.repeat(40) // the replica that took over T

const facts = (f: Partial<OpenSlotFacts> & Pick<OpenSlotFacts, 'masters'>): OpenSlotFacts => ({slot: 42, ends: {source: S, target: T}, views: [], ...f})

/** view is a live master's CLUSTER NODES listing `failed` as a failed master with no slots and, with `replicaOf`, as a replica. */
function view(failed: string, opts: {replicaOf?: string; slots?: string; epoch?: number; withReplica?: boolean} = {}): RedisClusterNode[] {
  const lines = [
    `${U} 127.0.0.1:7002@17002 myself,master - 0 0 3 connected 10923-16383`,
    opts.replicaOf ? `${failed} 127.0.0.1:7001@17001 slave,fail ${opts.replicaOf} 0 0 ${opts.epoch ?? 2} connected` : `${failed} 127.0.0.1:7001@17001 master,fail - 0 0 ${opts.epoch ?? 2} connected ${opts.slots ?? ''}`.trim(),
  ]
  if (opts.withReplica) lines.push(`${T2} 127.0.0.1:7004@17004 slave ${failed} 0 0 2 connected`)
  return parseClusterNodes(lines.join('\n'))
}

describe('planOpenSlot', () => {
  it('both sides live, keys on each side: finish, listing the keys both hold first (a source restarted from an older snapshot holds stale copies), nothing to repoint', () => {
    expect(planOpenSlot(facts({masters: [{id: S, owns: true, keys: 5}, {id: T, owns: false, keys: 3}, {id: U, owns: false, keys: 0}]}))).toEqual({
      source: S, target: T, failed: null, sourceKeys: 5, targetKeys: 3, action: 'finish', afterFailover: false, listBothSides: true, repointTarget: false, failedSource: null,
    })
    expect(planOpenSlot(facts({masters: [{id: S, owns: true, keys: 0}, {id: T, owns: false, keys: 3}]}))).toMatchObject({action: 'finish', listBothSides: false})
  })

  it('only the target marks the slot (IMPORTING from a live owner that marks no MIGRATING) and it holds keys: refused, nothing planned (a master restarted from a snapshot older than the move that took the slot)', () => {
    const stale = {slot: 42, ends: {source: S, target: T, sourceMigrating: false}, views: []}
    for (const sKeys of [0, 5]) {
      expect(() => planOpenSlot({...stale, masters: [{id: S, owns: true, keys: sKeys}, {id: T, owns: false, keys: 3}]})).toThrow(/^slot 42: bbbbbbbbbbbb imports it from aaaaaaaaaaaa, which is not migrating it .* holds 3 key\(s\) of it no client reaches/)
    }
    // No key on the target: nothing to bring back, the mark is rolled back as before.
    expect(planOpenSlot({...stale, masters: [{id: S, owns: true, keys: 5}, {id: T, owns: false, keys: 0}]})).toMatchObject({action: 'rollback'})
    // The source marked MIGRATING (or unknown): finished as before.
    expect(planOpenSlot(facts({ends: {source: S, target: T, sourceMigrating: true}, masters: [{id: S, owns: true, keys: 0}, {id: T, owns: false, keys: 3}]}))).toMatchObject({action: 'finish'})
  })

  it('both sides live, every key still on the source: roll back', () => {
    expect(planOpenSlot(facts({masters: [{id: S, owns: true, keys: 5}, {id: T, owns: false, keys: 0}]}))).toMatchObject({source: S, target: T, action: 'rollback', afterFailover: false})
  })

  it('the source failed over: its successor acts as source, the target is repointed, keys on both sides are listed, and the marks name the failed source', () => {
    expect(planOpenSlot(facts({masters: [{id: S2, owns: true, keys: 80}, {id: T, owns: false, keys: 120}, {id: U, owns: false, keys: 0}]}))).toEqual({
      source: S2, target: T, failed: S, sourceKeys: 80, targetKeys: 120, action: 'finish', afterFailover: true, listBothSides: true, repointTarget: true, failedSource: S,
    })
  })

  it('after a failover with keys on one side only there is nothing to list', () => {
    expect(planOpenSlot(facts({masters: [{id: S2, owns: true, keys: 0}, {id: T, owns: false, keys: 120}]}))).toMatchObject({action: 'finish', afterFailover: true, listBothSides: false})
  })

  it('the target failed over: the live master holding the migrated keys acts as target, nothing to repoint', () => {
    expect(planOpenSlot(facts({masters: [{id: S, owns: true, keys: 80}, {id: T2, owns: false, keys: 120}, {id: U, owns: false, keys: 0}]}))).toEqual({
      source: S, target: T2, failed: T, sourceKeys: 80, targetKeys: 120, action: 'finish', afterFailover: true, listBothSides: true, repointTarget: false, failedSource: null,
    })
  })

  it('a failed target shown replaced (a replica now) that left no key anywhere: the source rolls back alone', () => {
    expect(planOpenSlot(facts({masters: [{id: S, owns: true, keys: 80}, {id: U, owns: false, keys: 0}], views: [view(T, {replicaOf: U})]}))).toEqual({
      source: S, target: null, failed: T, sourceKeys: 80, targetKeys: 0, action: 'rollback', afterFailover: true, listBothSides: false, repointTarget: false, failedSource: null,
    })
  })

  it('refuses a target that is down but not replaced (it still serves slots, or has a replica yet to be elected): it may hold the migrated keys', () => {
    for (const v of [view(T, {slots: '5461-10922'}), view(T, {withReplica: true})]) {
      expect(() => planOpenSlot(facts({masters: [{id: S, owns: true, keys: 80}, {id: U, owns: false, keys: 0}], views: [v]}))).toThrow(expect.objectContaining({code: 'PRECONDITION', message: expect.stringContaining(`slot 42 is open towards ${T.slice(0, 12)}, which is down but not replaced`)}))
    }
  })

  it('refuses a slot a third live master also serves (a failed-over source that resumed), naming the owners', () => {
    expect(() => planOpenSlot(facts({masters: [{id: S, owns: true, keys: 80}, {id: T, owns: false, keys: 3}, {id: S2, owns: true, keys: 80}]}))).toThrow(expect.objectContaining({code: 'PRECONDITION', message: expect.stringContaining(`is served by more than one live master by their own views (${S.slice(0, 12)}, ${S2.slice(0, 12)})`)}))
  })

  it('refuses when no single live master took a failed side\'s place', () => {
    expect(() => planOpenSlot(facts({masters: [{id: T, owns: false, keys: 1}, {id: U, owns: false, keys: 0}]}))).toThrow(expect.objectContaining({code: 'PRECONDITION', message: expect.stringContaining('no single live master took its place')}))
  })
})
