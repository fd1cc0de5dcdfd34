import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {type ExecutorEnv} from '../../src/executor/executorEnv.js'
import {nodeMoveEffects} from '../../src/executor/moveEffects.js'
import {WaitingForNode} from '../../src/executor/retryPolicy.js'
import {type Move} from '../../src/model/move.js'
import {type Shard} from '../../src/model/shard.js'
import {type NodeClient} from '../../src/node/nodeClient.js'
import {type DigestResponse} from '../../src/node/protocol.js'
import {RECORD_HASH_FORMAT} from '../../src/node/recordHash.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {fakeClock, fakeClockEnv, markNodesAlive, moveOf} from './fixtures.js'

/**
 * The refill of a cut-over destination that restarted since verification (verifiedDirs.ts)
 * when the move's source is down. Found by session 36's hunt: the refill waited for the
 * source alone, so a heal (a move off a dead node, which verification compares with the
 * other voters) whose destination merely restarted after cutover waited for the dead node
 * for ever: in `cleanup` no rollback or cancel is accepted, and the dead node cannot be
 * removed while it is a replica. The staying voters hold every acknowledged write under the
 * same write-quorum rule verification uses (liveCopySources), so the refill reads them.
 */
async function refillWorld(rf: number, opts: {alive: (roles: {from: string; to: string; others: string[]}) => string[]; routerW?: (number | null)[]}) {
  const store = new MemoryStore()
  const clock = fakeClock()
  const ctx = makeServiceContext(store, {cluster: 'refill'}, () => new Date(clock.now))
  const nodes = ['n1', 'n2', 'n3', 'n4'].slice(0, rf + 1)
  await initCluster(ctx, {shards: 1, rf, nodes: parseNodeSpecs(nodes.map((n, i) => `${n}=127.0.0.1:${7101 + i}@z${i}`).join(',')), force: false})
  const initial = (await listShards(ctx)).shards[0]!.value
  const from = initial.replicas[0]!.node
  const to = nodes.find((n) => !initial.replicas.some((r) => r.node === n))!
  // The shard cut over (E+3): the destination a voter, the source outgoing.
  const shard: Shard = {...initial, epoch: initial.epoch + 3, replicas: [...initial.replicas.map((r) => (r.node === from ? {node: from, role: 'outgoing' as const} : r)), {node: to, role: 'voter'}]}
  await store.put(ctx.keys.shard(shard.id), JSON.stringify(shard))
  const others = initial.replicas.map((r) => r.node).filter((n) => n !== from)
  await markNodesAlive(ctx, opts.alive({from, to, others}))
  for (const [i, w] of (opts.routerW ?? []).entries()) {
    await store.put(`${ctx.keys.routersPrefix}r${i}`, JSON.stringify({id: `r${i}`, address: '127.0.0.1:1', pid: 1, startedAt: 't', updatedAt: 't', mapRevision: '1', epochs: {}, p99Ms: null, w}))
  }
  const asked: string[] = []
  const client = (node: string) =>
    ({
      digest: async (_shard: number, epoch: number, o: {tombstonesBefore?: number; format?: number}): Promise<DigestResponse> => {
        asked.push(node)
        return {shard: shard.id, epoch, range: shard.range, bounds: [shard.range.lo, shard.range.hi], buckets: ['0'.repeat(16)], counts: [0], tombstonesBefore: o.tombstonesBefore, format: o.format ?? RECORD_HASH_FORMAT}
      },
    }) as unknown as NodeClient
  const env: ExecutorEnv = {ctx, fence: {key: 'lock', createRevision: 1n}, client: async (node) => client(node), ...fakeClockEnv(clock), stopped: () => false, emit: () => {}}
  const move: Move = moveOf({shard: shard.id, from, to, baseEpoch: initial.epoch, epoch: shard.epoch, phase: 'cleanup'})
  return {refill: () => nodeMoveEffects(env, async (_e, m) => m).verify(move, shard, {refill: true}), asked, from, to, others}
}

describe('refill of a restarted cut-over destination with the move source down', () => {
  it('at rf 3 (w = 2 on every router) refills from the staying voters instead of waiting for the dead source', async () => {
    const w = await refillWorld(3, {alive: ({to, others}) => [to, ...others], routerW: [null, 2]})
    await w.refill()
    expect(new Set(w.asked)).toEqual(new Set([...w.others, w.to]))
    expect(w.asked).not.toContain(w.from)
  })

  it('with the source up refills from it alone', async () => {
    const w = await refillWorld(3, {alive: ({from, to, others}) => [from, to, ...others], routerW: [2]})
    await w.refill()
    expect(new Set(w.asked)).toEqual(new Set([w.from, w.to]))
  })

  it('at rf 1 waits for the source (not a counted failure): only it holds what the destination may lack', async () => {
    const w = await refillWorld(1, {alive: ({to}) => [to]})
    const err = await w.refill().then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(WaitingForNode)
    expect(String(err)).toMatch(/is down/)
    expect(w.asked).toEqual([])
  })

  it('at rf 3 waits (not counted) when a router may acknowledge with w = 1: a write may be on the source alone', async () => {
    const w = await refillWorld(3, {alive: ({to, others}) => [to, ...others], routerW: [null, 1]})
    const err = await w.refill().then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(WaitingForNode)
    expect(String(err)).toMatch(/w = 1/)
    expect(w.asked).toEqual([])
  })
})
