import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {type ShardEntry, ShardMapState} from '../../src/cluster/shardMapState.js'
import {type Shard} from '../../src/model/shard.js'

function shard(id: number, epoch: number): Shard {
  return {id, range: {lo: id * 10, hi: id * 10 + 10}, epoch, replicas: [{node: 'a', role: 'voter'}]}
}

function entry(id: number, epoch: number, modRevision: number): ShardEntry {
  return {shard: shard(id, epoch), modRevision: BigInt(modRevision)}
}

describe('ShardMapState', () => {
  it('Given a watch event at R+1, When a resync listed at R lands after it, Then the newer entry stays', () => {
    const s = new ShardMapState()
    s.applySnapshot([entry(1, 1, 5)], 10n)
    s.applyPut(entry(1, 2, 11)) // the move's epoch bump, delivered by the watch
    // A resync (after a refresh saw a range change) listed at 10 before that commit, and answers now.
    s.applySnapshot([entry(1, 1, 5)], 10n)
    expect(s.get(1)?.epoch).toBe(2)
    // Even a newer listing that predates the event cannot undo it.
    const t = new ShardMapState()
    t.applySnapshot([entry(1, 1, 5)], 8n)
    t.applyPut(entry(1, 2, 11))
    t.applySnapshot([entry(1, 1, 5)], 10n)
    expect(t.get(1)?.epoch).toBe(2)
    expect(t.appliedRevision()).toBe(11n)
  })

  it('Given an out-of-band refresh saw a newer shard, When a slower listing lands, Then the shard does not go back', () => {
    const s = new ShardMapState()
    s.applySnapshot([entry(1, 1, 5), entry(2, 1, 6)], 10n)
    expect(s.offerPut(entry(1, 3, 14))).toBe(true)
    expect(s.appliedRevision()).toBe(10n) // a refresh says nothing about other shards
    s.applySnapshot([entry(1, 2, 12), entry(2, 1, 6)], 12n)
    expect(s.get(1)?.epoch).toBe(3)
    expect(s.appliedRevision()).toBe(12n)
  })

  it('Given a shard deleted by the watch, When a listing from before the delete lands, Then it is not resurrected', () => {
    const s = new ShardMapState()
    s.applySnapshot([entry(1, 1, 5), entry(2, 1, 6)], 10n)
    expect(s.applyDelete(2, 12n)).toBe(true)
    expect(s.applySnapshot([entry(1, 1, 5), entry(2, 1, 6)], 11n)).toBe(false)
    expect(s.get(2)).toBeUndefined()
    // A re-created shard (new mod revision) is taken.
    expect(s.applyPut(entry(2, 1, 13))).toBe(true)
    expect(s.get(2)?.epoch).toBe(1)
  })

  it('Given a listing at R, When it omits a shard, Then only a held value not newer than R is removed', () => {
    const s = new ShardMapState()
    s.applySnapshot([entry(1, 1, 5)], 10n)
    s.applyPut(entry(2, 1, 12)) // created after the next listing's revision
    expect(s.applySnapshot([], 11n)).toBe(true)
    expect(s.get(1)).toBeUndefined()
    expect(s.get(2)?.epoch).toBe(1)
  })

  it('Given a listing at R, When an older listing or a late event at or below R arrives, Then nothing changes', () => {
    const s = new ShardMapState()
    s.applySnapshot([entry(1, 1, 5)], 10n)
    expect(s.applySnapshot([entry(1, 1, 5), entry(3, 1, 4)], 9n)).toBe(false)
    // Shard 3 was created at 4 and deleted by 10 (the listing at 10 omits it): a replayed put at 4 is old news.
    expect(s.applyPut(entry(3, 1, 4))).toBe(false)
    expect(s.get(3)).toBeUndefined()
    expect(s.offerPut(entry(3, 1, 4))).toBe(false)
  })

  it('Given a direct read found no shard at R, When the held value is older, Then it is removed, and not otherwise', () => {
    const s = new ShardMapState()
    s.applySnapshot([entry(1, 1, 5)], 10n)
    expect(s.offerAbsent(1, 4n)).toBe(false) // a stale read from before the shard existed
    expect(s.get(1)?.epoch).toBe(1)
    expect(s.offerAbsent(1, 15n)).toBe(true)
    expect(s.applyPut(entry(1, 2, 14))).toBe(false) // the watch catching up with a value the read already saw deleted
    expect(s.get(1)).toBeUndefined()
  })

  it('Given any interleaving of listings, watch events and direct reads, Then no shard moves backwards and the view converges', () => {
    // A history of etcd revisions 1..n, each a put or delete of one of 4 shards; observations are
    // taken at some revision and land in any order (watch events in revision order).
    const op = fc.record({id: fc.integer({min: 0, max: 3}), del: fc.boolean()})
    const observation = fc.record({kind: fc.constantFrom('snapshot', 'read', 'event'), at: fc.nat(), id: fc.integer({min: 0, max: 3})})
    fc.assert(
      fc.property(fc.array(op, {minLength: 1, maxLength: 30}), fc.array(observation, {maxLength: 60}), (ops, observations) => {
        const n = ops.length
        // truth(id, r): the value of shard id at revision r (its mod revision), or undefined when absent.
        const truth = (id: number, r: number): number | undefined => {
          let mod: number | undefined
          for (let rev = 1; rev <= r; rev++) {
            const o = ops[rev - 1]!
            if (o.id === id) mod = o.del ? undefined : rev
          }
          return mod
        }
        const at = (id: number, mod: number): ShardEntry => entry(id, mod, mod)
        const snapshotAt = (r: number): ShardEntry[] => [0, 1, 2, 3].flatMap((id) => (truth(id, r) === undefined ? [] : [at(id, truth(id, r)!)]))
        const s = new ShardMapState()
        let delivered = 0
        const deliverNext = () => {
          if (delivered >= n) return
          delivered++
          const o = ops[delivered - 1]!
          if (o.del) s.applyDelete(o.id, BigInt(delivered))
          else s.applyPut(at(o.id, delivered))
        }
        const seen = new Map<number, number>() // id -> highest mod revision or deletion revision observed in the view
        const check = () => {
          for (const id of [0, 1, 2, 3]) {
            const cur = s.entry(id)
            if (!cur) {
              // Once removed, a version can never come back: only a newer one may.
              if (seen.has(id) && Number.isInteger(seen.get(id))) seen.set(id, seen.get(id)! + 0.5)
              continue
            }
            const mod = Number(cur.modRevision)
            // A held value is a real version of the shard and never older than one held or removed before.
            expect(ops[mod - 1]).toEqual({id, del: false})
            expect(mod).toBeGreaterThanOrEqual(seen.get(id) ?? 0)
            if (mod !== seen.get(id)) expect(mod).toBeGreaterThan(seen.get(id) ?? 0)
            seen.set(id, mod)
          }
        }
        for (const ob of observations) {
          const r = ob.at % (n + 1)
          if (ob.kind === 'event') deliverNext()
          else if (ob.kind === 'snapshot') s.applySnapshot(snapshotAt(r), BigInt(r))
          else {
            const mod = truth(ob.id, r)
            if (mod === undefined) s.offerAbsent(ob.id, BigInt(r))
            else s.offerPut(at(ob.id, mod))
          }
          check()
        }
        while (delivered < n) {
          deliverNext()
          check()
        }
        for (const id of [0, 1, 2, 3]) {
          const mod = truth(id, n)
          expect(s.entry(id)?.modRevision).toBe(mod === undefined ? undefined : BigInt(mod))
        }
        expect(s.appliedRevision()).toBe(BigInt(n))
      }),
      {numRuns: 500},
    )
  })
})
