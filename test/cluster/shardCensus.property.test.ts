import fc from 'fast-check'
import {readFileSync, readdirSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {countShards, underReplicatedOf} from '../../src/cluster/censusCounts.js'
import {recountClusterCensus} from '../../src/cluster/censusService.js'
import {clusterStatus} from '../../src/cluster/clusterStatus.js'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {listNodeViews, showNode} from '../../src/cluster/nodeService.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../src/cluster/serviceContext.js'
import {foldCensus, readCensus, recountCensus, shardCounts} from '../../src/cluster/shardCensus.js'
import {replicaCensus} from '../../src/cluster/shardScan.js'
import {isUserError} from '../../src/errors/errors.js'
import {commitMoveTransition, getMove, readShard} from '../../src/executor/moveStore.js'
import {applySplit} from '../../src/executor/splitShard.js'
import {REPLICA_ROLES, type Shard} from '../../src/model/shard.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {moveOf} from '../executor/fixtures.js'

/**
 * The census must equal a full recount of the shard map at every revision, whatever
 * sequence of shard writes (the real writers: move transitions, splits), racing writes on a
 * stale read, folds and recounts produced it.
 */

const NODES = ['n1', 'n2', 'n3', 'n4', 'n5']
const SPECS = parseNodeSpecs(NODES.map((n, i) => `${n}=127.0.0.1:${7201 + i}@z${i % 3}`).join(','))

interface Setup {
  store: MemoryStore
  ctx: ServiceContext
  fence: {key: string; createRevision: bigint}
}

async function setup(shards: number): Promise<Setup> {
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'census'}, () => new Date(0))
  await initCluster(ctx, {shards, rf: 3, nodes: SPECS, force: false})
  await store.put(ctx.keys.executorLock, JSON.stringify({holder: 'test'}))
  const fence = {key: ctx.keys.executorLock, createRevision: (await store.get(ctx.keys.executorLock))?.createRevision ?? 0n}
  await store.put(ctx.keys.move('m'), JSON.stringify(moveOf({shard: 0, from: 'n1', to: 'n2'})))
  return {store, ctx, fence}
}

/** markAlive writes the liveness records that nodes' leases keep while they serve. */
async function markAlive(s: Setup, nodes: readonly string[]): Promise<void> {
  for (const [i, node] of nodes.entries()) await s.store.put(s.ctx.keys.alive(node), JSON.stringify({node, address: `127.0.0.1:${7201 + i}`, pid: 1000 + i, startedAt: new Date(0).toISOString()}))
}

/** recounted is the census as the whole shard map says it is now. */
async function recounted(ctx: ServiceContext) {
  return countShards((await listShards(ctx)).shards.map((s) => s.value))
}

const replicasArb = fc.uniqueArray(fc.record({node: fc.constantFrom(...NODES), role: fc.constantFrom(...REPLICA_ROLES)}), {minLength: 1, maxLength: 5, selector: (r) => r.node})

type Op = {kind: 'write'; shard: number; replicas: Shard['replicas']} | {kind: 'race'; shard: number; a: Shard['replicas']; b: Shard['replicas']} | {kind: 'split'; shard: number} | {kind: 'fold'} | {kind: 'recount'}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {weight: 5, arbitrary: fc.record({kind: fc.constant('write' as const), shard: fc.nat(7), replicas: replicasArb})},
  {weight: 2, arbitrary: fc.record({kind: fc.constant('race' as const), shard: fc.nat(7), a: replicasArb, b: replicasArb})},
  {weight: 1, arbitrary: fc.record({kind: fc.constant('split' as const), shard: fc.nat(7)})},
  {weight: 1, arbitrary: fc.record({kind: fc.constant('fold' as const)})},
  {weight: 1, arbitrary: fc.record({kind: fc.constant('recount' as const)})},
)

/** write commits a shard change with a move transition, as the executor does (fenced, CAS on move and shard). */
async function write(s: Setup, read: {value: Shard; modRevision: bigint}, replicas: Shard['replicas']): Promise<boolean> {
  try {
    await commitMoveTransition(s.ctx, s.fence, await getMove(s.ctx, 'm'), {}, {value: {...read.value, epoch: read.value.epoch + 1, replicas}, expected: read.modRevision, before: read.value})
    return true
  } catch (err) {
    if (isUserError(err, 'CONFLICT')) return false
    throw err
  }
}

async function apply(s: Setup, op: Op): Promise<void> {
  switch (op.kind) {
    case 'write':
    case 'race': {
      const read = await readShard(s.ctx, op.shard)
      if (!read) return
      if (op.kind === 'write') {
        expect(await write(s, read, op.replicas)).toBe(true)
        return
      }
      // Two writers from the same read: the second's compare fails, and its delta must not land.
      const [first, second] = await Promise.all([write(s, read, op.a), write(s, read, op.b)])
      expect([first, second].filter(Boolean)).toHaveLength(1)
      return
    }
    case 'split': {
      const read = await readShard(s.ctx, op.shard)
      const meta = JSON.parse((await s.store.get(s.ctx.keys.meta))?.value ?? '{}') as {nextShardId: number}
      if (!read || read.value.range.hi - read.value.range.lo < 2) return
      const at = read.value.range.lo + Math.floor((read.value.range.hi - read.value.range.lo) / 2)
      const part = (shard: number, lo: number, hi: number) => ({shard, epoch: read.value.epoch + 1, range: {lo, hi}, load: {reads: 0, writes: 0, bytes: 0, keys: 0}})
      await applySplit(s.ctx, s.fence, {kind: 'split', shard: op.shard, epoch: read.value.epoch, at, parts: [part(op.shard, read.value.range.lo, at), part(meta.nextShardId, at, read.value.range.hi)], reason: {kind: 'split', detail: 'test'}} as never)
      return
    }
    case 'fold':
      await foldCensus(s.ctx)
      return
    case 'recount': {
      const r = await recountClusterCensus(s.ctx)
      // Every writer keeps the census exact, so a recount never has anything to correct.
      expect(r.previous).toBe('exact')
    }
  }
}

describe('shard census', () => {
  it('Given random shard writes, stale racing writes, splits, folds and recounts, Then the stored census always equals a full recount', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, {minLength: 1, maxLength: 25}), async (ops) => {
        const s = await setup(8)
        for (const op of ops) {
          await apply(s, op)
          const stored = await readCensus(s.ctx)
          expect(stored?.counts).toEqual(await recounted(s.ctx))
          const scanned = await replicaCensus(s.ctx, 3)
          const counts = await shardCounts(s.ctx, 3)
          expect({shards: counts.shards, moving: counts.moving, under: counts.underReplicated, byNode: counts.replicasByNode, source: counts.source}).toEqual({shards: scanned.shards, moving: scanned.moving, under: scanned.underReplicated, byNode: scanned.replicasByNode, source: 'census'})
        }
      }),
      {numRuns: 50, seed: 19},
    )
  }, 120_000)

  it('Given a fold, Then the deltas are gone and the counts unchanged; a fold racing a write keeps the write', async () => {
    const s = await setup(8)
    for (let id = 0; id < 4; id++) {
      const read = await readShard(s.ctx, id)
      if (read) await write(s, read, [{node: 'n5', role: 'joining'}, ...read.value.replicas.filter((r) => r.node !== 'n5')])
    }
    const before = await readCensus(s.ctx)
    expect(before?.pendingDeltas).toBe(4)
    const read = await readShard(s.ctx, 5)
    if (!read) throw new Error('shard 5 missing')
    const [folded] = await Promise.all([foldCensus(s.ctx), write(s, read, [{node: 'n1', role: 'voter'}])])
    expect(folded).toBe(4)
    const after = await readCensus(s.ctx)
    expect(after?.counts).toEqual(await recounted(s.ctx))
    expect(after?.pendingDeltas).toBeLessThanOrEqual(1)
    const shards = (await listShards(s.ctx)).shards.map((x) => x.value)
    expect(underReplicatedOf(after?.counts ?? countShards([]), 3)).toBe(shards.filter((x) => x.replicas.filter((r) => r.role === 'voter').length < 3).length)
    expect(underReplicatedOf(after?.counts ?? countShards([]), 3)).toBeGreaterThan(0)
  })

  it('Given a shard record written by hand (bypassing the census), Then recount reports the difference and corrects it', async () => {
    const s = await setup(4)
    const read = await readShard(s.ctx, 2)
    if (!read) throw new Error('shard 2 missing')
    await s.store.put(s.ctx.keys.shard(2), JSON.stringify({...read.value, replicas: [{node: 'n4', role: 'voter'}]}))
    expect((await readCensus(s.ctx))?.counts).not.toEqual(await recounted(s.ctx))
    const r = await recountClusterCensus(s.ctx)
    expect(r.previous).toContain('voters 1: 0 -> 1')
    expect((await readCensus(s.ctx))?.counts).toEqual(await recounted(s.ctx))
  })

  it('Given a cluster without a census (written before it existed), Then status counts by scanning, and recount creates it', async () => {
    const s = await setup(4)
    await s.store.delete(s.ctx.keys.censusBase)
    expect((await shardCounts(s.ctx, 3)).source).toBe('scan')
    const r = await recountCensus(s.ctx)
    expect(r.previous).toBeUndefined()
    expect((await shardCounts(s.ctx, 3)).source).toBe('census')
    expect((await readCensus(s.ctx))?.counts).toEqual(await recounted(s.ctx))
  })

  it('Given an unknown cluster, Then recount refuses with NOT_FOUND and writes nothing', async () => {
    const store = new MemoryStore()
    const ctx = makeServiceContext(store, {cluster: 'nope'})
    const rev = await store.revision()
    await expect(recountClusterCensus(ctx)).rejects.toThrow(/does not exist/)
    expect(await store.revision()).toBe(rev)
  })
})

describe('status views read the census, not the shard map', () => {
  it('Given 3,000 shards, Then status and node list read no shard page, and node show reads one small page for its first shards', async () => {
    const s = await setup(3000)
    await markAlive(s, NODES)
    const reads: {prefix: string; limit: number}[] = []
    const listPage = s.store.listPage.bind(s.store)
    s.store.listPage = async (prefix, query) => {
      reads.push({prefix, limit: query.limit})
      return listPage(prefix, query)
    }
    const shardReads = () => reads.filter((r) => r.prefix === s.ctx.keys.shardsPrefix)

    const status = await clusterStatus(s.ctx)
    expect(status.shards).toBe(3000)
    expect(shardReads()).toEqual([])
    const views = await listNodeViews(s.ctx)
    expect(views.reduce((n, v) => n + v.replicas, 0)).toBe(9000)
    expect(shardReads()).toEqual([])

    const shown = await showNode(s.ctx, 'n1', 5)
    expect(shown.shards).toHaveLength(5)
    expect(shown.replicas).toBe(views.find((v) => v.id === 'n1')?.replicas)
    expect(shown.moreShards).toBe(shown.replicas - 5)
    expect(shardReads()).toEqual([{prefix: s.ctx.keys.shardsPrefix, limit: 1000}])
  }, 60_000)
})

describe('under-replicated shards in cluster status count live voters', () => {
  it('Given every node up, Then none; Given n1 down, Then exactly the shards with a voter on n1 (from the census, no shard read), and none once it is back', async () => {
    const s = await setup(40)
    await markAlive(s, NODES)
    const reads: string[] = []
    const listPage = s.store.listPage.bind(s.store)
    s.store.listPage = async (prefix, query) => {
      reads.push(prefix)
      return listPage(prefix, query)
    }
    const shardReads = () => reads.filter((p) => p === s.ctx.keys.shardsPrefix).length

    expect((await clusterStatus(s.ctx)).shardStates.underReplicated).toBe(0)
    expect(shardReads()).toBe(0)

    await s.store.delete(s.ctx.keys.alive('n1'))
    const onN1 = (await listShards(s.ctx)).shards.filter((sh) => sh.value.replicas.some((r) => r.node === 'n1' && r.role === 'voter')).length
    reads.length = 0
    const down = await clusterStatus(s.ctx)
    expect(onN1).toBeGreaterThan(0)
    expect(down.nodesDown).toBe(1)
    expect(down.shardStates.underReplicated).toBe(onN1)
    expect(shardReads()).toBe(0)

    await markAlive(s, ['n1'])
    expect((await clusterStatus(s.ctx)).shardStates.underReplicated).toBe(0)
  })

  it('Given two nodes down and a census base without a voter-set histogram (written before it existed), Then status counts the same by one paged read', async () => {
    const s = await setup(60)
    await markAlive(s, ['n3', 'n4', 'n5'])
    const shards = (await listShards(s.ctx)).shards.map((sh) => sh.value)
    const expected = shards.filter((sh) => sh.replicas.filter((r) => r.role === 'voter' && r.node !== 'n1' && r.node !== 'n2').length < 3).length
    expect(expected).toBeGreaterThan(0)
    expect(expected).toBeLessThan(shards.length)
    const reads: string[] = []
    const listPage = s.store.listPage.bind(s.store)
    s.store.listPage = async (prefix, query) => {
      reads.push(prefix)
      return listPage(prefix, query)
    }
    const shardReads = () => reads.filter((p) => p === s.ctx.keys.shardsPrefix).length
    expect((await clusterStatus(s.ctx)).shardStates.underReplicated).toBe(expected)
    expect(shardReads()).toBe(0)

    const base = JSON.parse((await s.store.get(s.ctx.keys.censusBase))?.value ?? '{}') as {asOf: string; counts: {byVoterSet?: unknown}}
    delete base.counts.byVoterSet
    await s.store.put(s.ctx.keys.censusBase, JSON.stringify(base))
    expect((await clusterStatus(s.ctx)).shardStates.underReplicated).toBe(expected)
    expect(shardReads()).toBe(1)
  })
})

describe('every writer of shard records goes through the census', () => {
  it('Given the sources, Then only the known modules name a shard key, and the ones that write it use shardWritePuts or the init base', () => {
    const files: string[] = []
    const walk = (dir: string) => {
      for (const f of readdirSync(dir)) {
        const p = join(dir, f)
        if (statSync(p).isDirectory()) walk(p)
        else if (p.endsWith('.ts')) files.push(p)
      }
    }
    walk('src')
    const naming = files.filter((f) => /keys\.shard\(/.test(readFileSync(f, 'utf8'))).sort()
    // Readers (get, compare) and the census writers. A new module here must write shards via shardWritePuts.
    expect(naming).toEqual(['src/cluster/clusterRepo.ts', 'src/cluster/initCluster.ts', 'src/cluster/shardCensus.ts', 'src/cluster/shardMapFollower.ts', 'src/executor/moveStore.ts', 'src/executor/splitShard.ts'])
    for (const f of ['src/executor/moveStore.ts', 'src/executor/splitShard.ts']) {
      const src = readFileSync(f, 'utf8')
      expect(src).toContain('shardWritePuts(')
      expect(src).not.toMatch(/\{key: ctx\.keys\.shard\([^)]*\), value:/)
    }
    expect(readFileSync('src/cluster/initCluster.ts', 'utf8')).toContain('censusBasePut(')
  })
})
