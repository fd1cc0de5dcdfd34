import {describe, expect, it} from 'vitest'
import {replicaCensus, scanShards} from '../../src/cluster/shardScan.js'
import {type ServiceContext} from '../../src/cluster/serviceContext.js'
import {keysOf} from '../../src/etcd/keys.js'
import {type Shard} from '../../src/model/shard.js'

const keys = keysOf('c')

/** shardsOf builds n shards at rf 3 over nodes a..e; every 7th is mid-move (joining f), every 11th lost a voter. */
function shardsOf(n: number): Shard[] {
  const nodes = ['a', 'b', 'c', 'd', 'e']
  return Array.from({length: n}, (_, id) => {
    const voters = [0, 1, 2].map((k) => nodes[(id + k) % nodes.length]!)
    const replicas: Shard['replicas'] = (id % 11 === 0 ? voters.slice(0, 2) : voters).map((node) => ({node, role: 'voter' as const}))
    if (id % 7 === 0) replicas.push({node: 'f', role: 'joining'})
    return {id, range: {lo: id * 10, hi: id * 10 + 10}, epoch: 1, replicas}
  })
}

/** pagedContext serves the shards as a store's scan would, `page` at a time, and counts the pages read. */
function pagedContext(values: string[], page: number) {
  const reads = {pages: 0}
  const store = {
    async *scan(prefix: string) {
      expect(prefix).toBe(keys.shardsPrefix)
      for (let i = 0; i < Math.max(values.length, 1); i += page) {
        reads.pages++
        yield {items: values.slice(i, i + page).map((value, j) => ({key: keys.shard(i + j), value, modRevision: 5n, createRevision: 5n, lease: '0'})), revision: 9n}
      }
    },
  }
  return {ctx: {store, cluster: 'c', keys} as unknown as ServiceContext, reads}
}

describe('replicaCensus', () => {
  it('Given shards over many pages, Then it counts exactly what the whole map would give', async () => {
    const shards = shardsOf(1000)
    const {ctx, reads} = pagedContext(shards.map((s) => JSON.stringify(s)), 64)
    const census = await replicaCensus(ctx, 3, 'f')

    expect(reads.pages).toBe(16)
    expect(census.shards).toBe(1000)
    expect(census.moving).toBe(shards.filter((s) => s.replicas.some((r) => r.role !== 'voter')).length)
    expect(census.underReplicated).toBe(shards.filter((s) => s.replicas.filter((r) => r.role === 'voter').length < 3).length)
    const byNode = new Map<string, number>()
    for (const s of shards) for (const r of s.replicas) byNode.set(r.node, (byNode.get(r.node) ?? 0) + 1)
    expect(census.replicasByNode).toEqual(byNode)
    expect(census.heldBy).toEqual(shards.filter((s) => s.id % 7 === 0).map((s) => ({id: s.id, role: 'joining'})))
    expect(census.revision).toBe(9n)
  })

  it('Given a record that is not a shard, Then it names the key and refuses to count', async () => {
    const {ctx} = pagedContext([JSON.stringify(shardsOf(1)[0]), '{"id": 1, "replicas": "a"}'], 10)
    await expect(replicaCensus(ctx, 3)).rejects.toThrow(new RegExp(`${keys.shard(1)} is not a shard record`))
    const broken = pagedContext(['{nope'], 10)
    await expect(replicaCensus(broken.ctx, 3)).rejects.toThrow(/is not JSON/)
  })
})

describe('scanShards', () => {
  it('Given filters, Then it yields what filtering the whole map would, and stops reading at the limit', async () => {
    const shards = shardsOf(500)
    const {ctx, reads} = pagedContext(shards.map((s) => JSON.stringify(s)), 50)
    const collect = async (f: Parameters<typeof scanShards>[1]) => {
      const out: number[] = []
      for await (const s of scanShards(ctx, f)) out.push(s.id)
      return out
    }
    expect(await collect({node: 'f'})).toEqual(shards.filter((s) => s.id % 7 === 0).map((s) => s.id))
    expect(await collect({state: 'stable'})).toEqual(shards.filter((s) => s.id % 7 !== 0).map((s) => s.id))
    expect(await collect({node: 'a', state: 'moving'})).toEqual(shards.filter((s) => s.id % 7 === 0 && s.replicas.some((r) => r.node === 'a')).map((s) => s.id))
    reads.pages = 0
    expect(await collect({limit: 3})).toEqual([0, 1, 2])
    expect(reads.pages).toBe(1)
    expect(await collect({limit: 0})).toEqual([])
  })

  it('Given 40 pages, Then it reads each page only when the consumer reaches it, so `shard list` holds one page however large the map', async () => {
    const page = 25
    const shards = shardsOf(1000)
    const {ctx, reads} = pagedContext(shards.map((s) => JSON.stringify(s)), page)
    let seen = 0
    for await (const s of scanShards(ctx)) {
      // Shard i is in page floor(i / page): no page beyond it may have been read yet.
      expect(reads.pages).toBe(Math.floor(s.id / page) + 1)
      seen++
    }
    expect(seen).toBe(1000)
    expect(reads.pages).toBe(40)
  })
})
