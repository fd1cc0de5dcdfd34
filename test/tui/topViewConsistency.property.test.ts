import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {topReducer, type KeyValue} from '../../src/tui/topState.js'
import {deriveTopView, type TopView} from '../../src/tui/topView.js'
import {alive, census, censusDelta, KEYS, meta, node, reduce, shard, stats, T0} from './fixtures.js'

const IDS = ['n1', 'n2', 'n3', 'n4'] as const

/** One change the watch can deliver: a node publishes load, goes down or up, changes state, loses its stats or record, or a shard gains a replica. */
const change = fc.record({op: fc.integer({min: 0, max: 7}), who: fc.integer({min: 0, max: 3}), load: fc.integer({min: 1, max: 100}), shard: fc.integer({min: 0, max: 3})})

/** largestPoolRow is the largest utilisation among the rows the planner's pool holds (every node but the draining ones, down or up). */
function largestPoolRow(v: TopView): number | null {
  const pool = v.nodes.filter((r) => r.state !== 'draining' && r.utilisation !== null).map((r) => r.utilisation!)
  return pool.length === 0 ? null : Math.max(...pool)
}

/**
 * The header's imbalance and the node rows under it come from one load snapshot, the latest
 * the feed delivered: after any sequence of watch events the header is the largest pool row
 * of the same frame, and the whole frame equals what one fresh read of the same keys shows
 * (so no figure lags behind a publish the rows already show, or the nodes made since).
 */
describe('deriveTopView: header and rows from the same, latest load', () => {
  it('Given any sequence of watch events, When derived after each, Then the header is the largest pool row and the frame equals a fresh read of the same keys', () => {
    fc.assert(
      fc.property(fc.array(change, {maxLength: 25}), (changes) => {
        let placement = [['n1', 'n2'], ['n1', 'n3'], ['n2', 'n4'], ['n3', 'n4']]
        const held = (n: string) => placement.flatMap((p, i) => (p.includes(n) ? [i] : []))
        const initial: KeyValue[] = [meta(2), ...IDS.flatMap((n) => [node(n), alive(n)]), ...placement.map((p, i) => shard(i, p)), ...IDS.map((n) => stats(n, held(n), 10))]
        initial.push(census(initial))
        const keys = new Map(initial.map((kv) => [kv.key, kv]))
        let state = reduce([{type: 'seeded', at: T0, items: initial}])
        let revision = 100n
        for (const c of changes) {
          const n = IDS[c.who]!
          let item: KeyValue
          if (c.op === 0) item = stats(n, held(n), c.load)
          else if (c.op === 1) item = {key: KEYS.alive(n), value: null}
          else if (c.op === 2) item = alive(n)
          else if (c.op === 3) item = node(n, c.load % 2 ? 'draining' : 'cordoned')
          else if (c.op === 4) item = node(n)
          else if (c.op === 5) item = {key: KEYS.stats(n), value: null}
          else if (c.op === 6) item = {key: KEYS.node(n), value: null}
          else {
            const before = placement[c.shard]!
            if (before.includes(n)) continue
            const after = [before[0]!, n]
            item = censusDelta(shard(c.shard, before), shard(c.shard, after), ++revision)
            placement = placement.map((p, i) => (i === c.shard ? after : p))
          }
          state = topReducer(KEYS, state, {type: 'kv', at: T0 + 1, item})
          if (item.value === null) keys.delete(item.key)
          else keys.set(item.key, item)
          const frame = deriveTopView(state, 1.1)
          const largest = largestPoolRow(frame)
          if (frame.header.imbalance === null || largest === null) expect(frame.header.imbalance === null || largest === null).toBe(true)
          else expect(frame.header.imbalance).toBeCloseTo(largest, 9)
          const fresh = deriveTopView(reduce([{type: 'seeded', at: T0, items: [...keys.values()]}]), 1.1)
          expect(frame.header.imbalance).toEqual(fresh.header.imbalance)
          expect(frame.nodes).toEqual(fresh.nodes)
        }
      }),
      {numRuns: 300},
    )
  })
})
