import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {type ExecutorEnv} from '../../src/executor/executorEnv.js'
import {nodeMoveEffects} from '../../src/executor/moveEffects.js'
import {type Move} from '../../src/model/move.js'
import {type Shard} from '../../src/model/shard.js'
import {type NodeClient} from '../../src/node/nodeClient.js'
import {type DigestResponse} from '../../src/node/protocol.js'
import {RECORD_HASH_FORMAT} from '../../src/node/recordHash.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {fakeClock, fakeClockEnv, markNodesAlive, moveOf} from './fixtures.js'

/**
 * Verification compares the destination with the replicas a copy may read from. With the
 * destination learning during the copy (its answers not awaited), verification is what
 * carries over the writes it missed: found by session 27's lost-write hunt on the learner
 * design, verification with the source down used to compare the destination with the other
 * live voters — none at all at rf 1 — and passed, so a write acknowledged by the source alone
 * and missed by the learner would be lost at cutover.
 */
async function verifyWorld(rf: number, opts: {alive: (roles: {from: string; to: string; others: string[]}) => string[]; routerW?: (number | null)[]}) {
  const store = new MemoryStore()
  const clock = fakeClock()
  const ctx = makeServiceContext(store, {cluster: 'verify'}, () => new Date(clock.now))
  const nodes = ['n1', 'n2', 'n3', 'n4'].slice(0, rf + 1)
  await initCluster(ctx, {shards: 1, rf, nodes: parseNodeSpecs(nodes.map((n, i) => `${n}=127.0.0.1:${7101 + i}@z${i}`).join(',')), force: false})
  const initial = (await listShards(ctx)).shards[0]!.value
  const from = initial.replicas[0]!.node
  const to = nodes.find((n) => !initial.replicas.some((r) => r.node === n))!
  // The shard as verification sees it: the destination promoted (joining) at the move's epoch.
  const shard: Shard = {...initial, epoch: initial.epoch + 2, replicas: [...initial.replicas, {node: to, role: 'joining'}]}
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
  const move: Move = moveOf({shard: shard.id, from, to, baseEpoch: initial.epoch, epoch: shard.epoch, phase: 'verifying'})
  return {verify: () => nodeMoveEffects(env, async (_e, m) => m).verify(move, shard), asked, from, to, others}
}

describe('verification with the move source down', () => {
  it('at rf 1 never passes by comparing nothing: it waits for the source (retried, then the move aborts)', async () => {
    const w = await verifyWorld(1, {alive: ({to}) => [to]})
    await expect(w.verify()).rejects.toThrow(/source n\d of shard \d+ is down and writes may be acknowledged with w = 1/)
    expect(w.asked).toEqual([])
  })

  it('at rf 1 with the source up compares the destination with it', async () => {
    const w = await verifyWorld(1, {alive: ({from, to}) => [from, to]})
    await w.verify()
    expect(new Set(w.asked)).toEqual(new Set([w.from, w.to]))
  })

  it('at rf 3 (w = 2 on every router) compares the destination with both other voters', async () => {
    const w = await verifyWorld(3, {alive: ({to, others}) => [to, ...others], routerW: [null, 2]})
    await w.verify()
    expect(new Set(w.asked)).toEqual(new Set([...w.others, w.to]))
  })

  it('at rf 3 waits when a router may acknowledge with w = 1', async () => {
    const w = await verifyWorld(3, {alive: ({to, others}) => [to, ...others], routerW: [null, 1]})
    await expect(w.verify()).rejects.toThrow(/w = 1/)
    expect(w.asked).toEqual([])
  })

  it('at rf 3 waits when a second old voter is down too (a write quorum fits outside the one left)', async () => {
    const w = await verifyWorld(3, {alive: ({to, others}) => [to, others[0]!], routerW: [2]})
    await expect(w.verify()).rejects.toThrow(/could miss an acknowledged write/)
    expect(w.asked).toEqual([])
  })
})
