import {describe, expect, it} from 'vitest'
import {type NodeStats, NodeStatsSummarySchema, type ShardLoad, type ShardLoadPage, ShardLoadPageSchema} from '../../src/model/stats.js'
import {joinNodeStats, splitNodeStats, STATS_PAGE_BYTES} from '../../src/stats/statsPages.js'

/** loads builds `n` replicas' load with varied figures; every 50th carries a full key sample (the biggest entries a node publishes). */
function loads(n: number): ShardLoad[] {
  return Array.from({length: n}, (_, i) => {
    const load: ShardLoad = {shard: i * 3 + 1, reads: (i % 97) * 1.25, writes: (i % 13) * 0.5, bytes: i * 1031, keys: i % 4099}
    if (i % 50 === 0) load.keySample = Array.from({length: 64}, (_, k) => 4_000_000_000 - k * 7919)
    return load
  })
}

const stats = (n: number): NodeStats => ({node: 'n-7', at: '2026-11-30T10:00:00.000Z', clockOffsetMs: -3, clockOk: true, shards: loads(n)})

describe('splitNodeStats / joinNodeStats', () => {
  it('Given a node with 40k replicas (its single record over etcd 1.5 MiB limit; 150k on a real etcd in nodeStats.test.ts), When split, Then every page is under the page budget and joining gives back every replica', () => {
    const input = stats(40_000)
    expect(JSON.stringify(input).length).toBeGreaterThan(1.5 * 1024 * 1024)
    const {summary, pages} = splitNodeStats(input)
    expect(pages.length).toBeGreaterThan(1)
    for (const page of pages) expect(Buffer.byteLength(page)).toBeLessThanOrEqual(STATS_PAGE_BYTES)
    expect(Buffer.byteLength(JSON.stringify(summary))).toBeLessThan(512)
    expect(summary.pages).toBe(pages.length)
    const parsed = pages.map((p) => ShardLoadPageSchema.parse(JSON.parse(p)))
    expect(parsed.map((p) => p.page)).toEqual(pages.map((_, i) => i))
    expect(joinNodeStats(NodeStatsSummarySchema.parse(summary), parsed)).toEqual(input)
  })

  it('Given small page budgets, When split, Then no page exceeds it unless it holds a single replica bigger than the budget', () => {
    const input = stats(500)
    for (const budget of [150, 400, 1000, 4096]) {
      const {pages} = splitNodeStats(input, budget)
      for (const page of pages) {
        const held = ShardLoadPageSchema.parse(JSON.parse(page)).shards.length
        if (held > 1) expect(Buffer.byteLength(page), `budget ${budget}`).toBeLessThanOrEqual(budget)
      }
      const parsed = pages.map((p) => ShardLoadPageSchema.parse(JSON.parse(p)))
      expect(parsed.flatMap((p) => p.shards)).toEqual(input.shards)
    }
  })

  it('Given replicas with load, When split, Then the summary holds their sums, count and clock', () => {
    const input = stats(1000)
    const {summary} = splitNodeStats(input)
    const sum = (f: (l: ShardLoad) => number) => input.shards.reduce((a, l) => a + f(l), 0)
    expect(summary).toEqual({node: 'n-7', at: input.at, replicas: 1000, reads: sum((l) => l.reads), writes: sum((l) => l.writes), bytes: sum((l) => l.bytes), keys: sum((l) => l.keys), pages: 1, clockOffsetMs: -3, clockOk: true})
  })

  it('Given a node holding nothing, When split, Then it publishes a summary of zeros and no page', () => {
    const {summary, pages} = splitNodeStats({node: 'n1', at: 'now', shards: []})
    expect(pages).toEqual([])
    expect(summary).toMatchObject({replicas: 0, reads: 0, pages: 0})
    expect(summary).not.toHaveProperty('clockOk')
    expect(joinNodeStats(summary, [])).toEqual({node: 'n1', at: 'now', shards: []})
  })

  it('Given pages left from a longer earlier publish, pages out of order and of another node, When joined, Then only the summary’s pages count, in page order, each replica once', () => {
    const load = (shard: number, reads: number): ShardLoad => ({shard, reads, writes: 0, bytes: 0, keys: 0})
    const page = (node: string, n: number, shards: ShardLoad[]): ShardLoadPage => ({node, at: 'now', page: n, shards})
    const {summary} = splitNodeStats({node: 'n1', at: 'now', shards: [load(1, 1), load(2, 1), load(3, 1)]}, 10)
    expect(summary.pages).toBe(3)
    const joined = joinNodeStats(summary, [page('n1', 2, [load(3, 1)]), page('n1', 0, [load(1, 1)]), page('n1', 3, [load(9, 9)]), page('n2', 1, [load(5, 5)]), page('n1', 1, [load(2, 1), load(1, 7)])])
    expect(joined.shards).toEqual([load(1, 1), load(2, 1), load(3, 1)])
  })
})
