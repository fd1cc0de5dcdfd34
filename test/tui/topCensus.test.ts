import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {addCounts, type CensusCounts, countShards, emptyCounts, shardDelta} from '../../src/cluster/censusCounts.js'
import {applyCensusKey, emptyTopCensus, type TopCensus} from '../../src/tui/topCensus.js'
import {KEYS} from './fixtures.js'

/**
 * top follows the census through etcd's watch: base puts, delta puts and the deletes a fold
 * makes after its base. Whatever the interleaving of writes and folds, the counts it shows
 * must equal a count of the shard map at the same revision.
 */

type Replicas = {node: string; role: string}[]
const NODES = ['n1', 'n2', 'n3', 'n4']
const replicasArb = fc.uniqueArray(fc.record({node: fc.constantFrom(...NODES), role: fc.constantFrom('voter', 'learner', 'joining')}), {minLength: 1, maxLength: 4, selector: (r) => r.node})
type Op = {kind: 'write'; shard: number; replicas: Replicas} | {kind: 'fold'; deleteFirst: number}
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {weight: 4, arbitrary: fc.record({kind: fc.constant('write' as const), shard: fc.integer({min: 0, max: 5}), replicas: replicasArb})},
  {weight: 1, arbitrary: fc.record({kind: fc.constant('fold' as const), deleteFirst: fc.integer({min: 0, max: 10})})},
)

describe('applyCensusKey', () => {
  it('Given any writes and folds as the watch delivers them, Then the counts equal a recount of the map after every event', () => {
    fc.assert(
      fc.property(fc.array(opArb, {maxLength: 40}), fc.boolean(), (ops, seedMidway) => {
        const map = new Map<number, Replicas>()
        // etcd's side: the pending deltas with their create revision, and the revision counter.
        const pending = new Map<string, {revision: bigint; counts: CensusCounts}>()
        let rev = 1n
        let base = emptyCounts()
        let asOf = 1n
        let census: TopCensus = emptyTopCensus()
        const deliver = (key: string, value: string | null, revision: bigint) => {
          const next = applyCensusKey(census, key, key === KEYS.censusBase, value, revision)
          expect(next).toBeDefined()
          census = next ?? census
        }
        deliver(KEYS.censusBase, JSON.stringify({asOf: '1', counts: base}), 1n)
        for (const [i, op] of ops.entries()) {
          if (op.kind === 'write') {
            const delta = shardDelta(map.get(op.shard) ? {replicas: map.get(op.shard) ?? []} : undefined, {replicas: op.replicas})
            map.set(op.shard, op.replicas)
            rev++
            const key = KEYS.censusDelta(`u${rev}`)
            pending.set(key, {revision: rev, counts: delta})
            deliver(key, JSON.stringify(delta), rev)
          } else {
            // A fold: the new base (counts at rev) in one revision, then its deltas deleted one revision each.
            rev++
            base = structuredClone(base)
            for (const d of pending.values()) if (d.revision > asOf) addCounts(base, d.counts)
            const folded = [...pending.keys()]
            asOf = rev - 1n
            deliver(KEYS.censusBase, JSON.stringify({asOf: String(asOf), counts: base}), rev)
            expect(census.counts).toEqual(countShards([...map.values()].map((replicas) => ({replicas}))))
            for (const key of folded.slice(0, op.deleteFirst)) {
              pending.delete(key)
              rev++
              deliver(key, null, rev)
            }
            // The rest stay behind (a fold that died after its base): they are counted in the base, not twice.
          }
          expect(census.counts).toEqual(countShards([...map.values()].map((replicas) => ({replicas}))))
          if (seedMidway && i === Math.floor(ops.length / 2)) {
            // A resync re-reads base and every delta key still there, the base first (key order).
            const fresh = [{key: KEYS.censusBase, value: JSON.stringify({asOf: String(asOf), counts: base}), revision: 1n}, ...[...pending].map(([key, d]) => ({key, value: JSON.stringify(d.counts), revision: d.revision}))]
            census = emptyTopCensus()
            for (const kv of fresh) deliver(kv.key, kv.value, kv.revision)
          }
        }
      }),
      {numRuns: 300},
    )
  })

  it('Given a value that is not census JSON, Then it is refused (undefined) and nothing else changes', () => {
    const c = emptyTopCensus()
    expect(applyCensusKey(c, KEYS.censusBase, true, '{"asOf":"x"}', 1n)).toBeUndefined()
    expect(applyCensusKey(c, KEYS.censusDelta('a'), false, 'not json', 1n)).toBeUndefined()
  })
})
