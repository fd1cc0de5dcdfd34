import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {addCounts, countShards, MAX_VOTER_SETS, shardDelta, underReplicatedLive, underReplicatedOf} from '../../src/cluster/censusCounts.js'
import {liveVoters} from '../../src/cluster/replicaTally.js'
import {REPLICA_ROLES} from '../../src/model/shard.js'

/**
 * The voter-set histogram must give, for ANY set of live nodes, exactly the count a scan
 * of the map with liveVoters gives (what `top` and the autopilot count), however the counts
 * were reached: from scratch, or by deltas of shard writes.
 */

const NODES = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6']
const replicasArb = fc.uniqueArray(fc.record({node: fc.constantFrom(...NODES), role: fc.constantFrom(...REPLICA_ROLES)}), {minLength: 0, maxLength: 5, selector: (r) => r.node})
const shardsArb = fc.array(fc.record({replicas: replicasArb}), {maxLength: 40})
const aliveArb = fc.subarray(NODES)

const scanCount = (shards: {replicas: {node: string; role: string}[]}[], rf: number, alive: ReadonlySet<string>) => shards.filter((s) => liveVoters(s.replicas, alive) < rf).length

describe('underReplicatedLive', () => {
  it('Given any shards, live nodes and rf, Then it equals a scan with liveVoters, and with every node alive it equals underReplicatedOf', () => {
    fc.assert(
      fc.property(shardsArb, aliveArb, fc.integer({min: 1, max: 4}), (shards, alive, rf) => {
        const counts = countShards(shards)
        expect(underReplicatedLive(counts, rf, new Set(alive))).toBe(scanCount(shards, rf, new Set(alive)))
        expect(underReplicatedLive(counts, rf, new Set(NODES))).toBe(underReplicatedOf(counts, rf))
      }),
    )
  })

  it('Given counts reached by deltas (each shard rewritten), Then they equal a count from scratch of the final shards', () => {
    fc.assert(
      fc.property(shardsArb, shardsArb, aliveArb, (before, rewritten, alive) => {
        const after = before.map((s, i) => rewritten[i] ?? s)
        const counts = countShards(before)
        before.forEach((s, i) => addCounts(counts, shardDelta(s, after[i])))
        expect(counts).toEqual(countShards(after))
        expect(underReplicatedLive(counts, 3, new Set(alive))).toBe(scanCount(after, 3, new Set(alive)))
      }),
    )
  })

  it('Given a delta without a histogram (a writer that did not keep one), Then the sum has none and underReplicatedLive says unknown', () => {
    const counts = countShards([{replicas: [{node: 'n1', role: 'voter'}]}])
    const {byVoterSet: _dropped, ...legacy} = shardDelta(undefined, {replicas: [{node: 'n2', role: 'voter'}]})
    addCounts(counts, legacy)
    expect(counts.byVoterSet).toBeUndefined()
    expect(counts.shards).toBe(2)
    expect(underReplicatedLive(counts, 1, new Set(['n1']))).toBeUndefined()
  })

  it('Given more distinct voter sets than MAX_VOTER_SETS, Then the histogram is dropped (unknown), not truncated', () => {
    const shards = Array.from({length: MAX_VOTER_SETS + 1}, (_, i) => ({replicas: [{node: `a${i}`, role: 'voter'}]}))
    expect(countShards(shards).byVoterSet).toBeUndefined()
    expect(Object.keys(countShards(shards.slice(1)).byVoterSet ?? {})).toHaveLength(MAX_VOTER_SETS)
  })
})
