import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {awaitBarrier} from '../../src/executor/barrier.js'
import {type ExecutorEnv} from '../../src/executor/executorEnv.js'
import {nodeMoveEffects} from '../../src/executor/moveEffects.js'
import {runMove} from '../../src/executor/moveRunner.js'
import {commitMoveTransition, getMove, readShard} from '../../src/executor/moveStore.js'
import {type NodeClient} from '../../src/node/nodeClient.js'
import {type DigestResponse} from '../../src/node/protocol.js'
import {RECORD_HASH_FORMAT} from '../../src/node/recordHash.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {fakeClock, fakeClockEnv, moveOf} from './fixtures.js'

/**
 * Lost-write hunt on "the destination learns during the copy" (session 28): verification with
 * the source down falls back to the other old voters when no write quorum fits outside them,
 * |O \ S| < w, with w the smallest `--w` of the routers registered *when verification runs*
 * (liveCopySources). But the writes verification must carry over were acknowledged during the
 * copy, by the routers registered *then*. A router with `--w 1` that acknowledged a write on the
 * source alone (the learner's apply lost) and has since stopped (its leased `routers/<id>` entry
 * gone) is not counted: verification compares the destination with the two other voters, which
 * never had the write, passes, and the move cuts over without it (the source's copy is dropped
 * at cleanup, or by its orphan sweep while it is down). Before the learner, a write during the
 * copy needed a joint quorum (the destination, or two voters); now a `--w 1` write can live on
 * the source alone for the whole copy.
 *
 * Mended (session 28): the executor samples the routers' write quorums at the move's barriers
 * and every second while it copies, records the smallest on the move (`writeQuorumFloor`), and
 * the fallback counts it (src/executor/writeQuorumFloor.ts). A sample: a router that registers
 * after one sample and leaves before the next is still missed.
 *
 * The real runMove, awaitBarrier, promotion and verification (liveCopySources, syncReplicas) run
 * on the memory store; the nodes are modelled: each answers `accept` with the epoch asked and
 * the same digest (the write the source alone holds is on no node that answers), so any
 * verification that compares the destination with the other voters only passes.
 */
describe('verification with the source down, after a --w 1 router that wrote during the copy has left', () => {
  it('does not cut over (waits for the source, then aborts): a router registered at the move\'s barriers counts until the move is verified', async () => {
    const clock = fakeClock()
    const store = new MemoryStore()
    const ctx = makeServiceContext(store, {cluster: 'w1'}, () => new Date(clock.now))
    await initCluster(ctx, {shards: 1, rf: 3, nodes: parseNodeSpecs('n1=127.0.0.1:7101@a,n2=127.0.0.1:7102@b,n3=127.0.0.1:7103@c,n4=127.0.0.1:7104@a'), force: false})
    const nodeLease = await store.grantLease(60)
    for (const id of ['n1', 'n2', 'n3', 'n4']) await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}), nodeLease.id)
    const shard0 = (await listShards(ctx)).shards[0]!.value
    const from = shard0.replicas[0]!.node
    const to = ['n1', 'n2', 'n3', 'n4'].find((n) => !shard0.replicas.some((r) => r.node === n))!
    const move = moveOf({id: 'w1-0001', shard: shard0.id, from, to, baseEpoch: shard0.epoch, epoch: shard0.epoch})
    await store.put(ctx.keys.move(move.id), JSON.stringify(move))
    await store.put(ctx.keys.executorLock, JSON.stringify({holder: 'test'}))
    const fence = {key: ctx.keys.executorLock, createRevision: (await store.get(ctx.keys.executorLock))!.createRevision}

    // Two routers on leases that follow the map: r-majority (--w unset: a majority) and r-w1 (--w 1).
    const routerLeases = new Map<string, string>()
    const routers = new Map<string, number | null>([
      ['r-majority', null],
      ['r-w1', 1],
    ])
    for (const id of routers.keys()) routerLeases.set(id, (await store.grantLease(60)).id)
    const follow = async () => {
      const s = await readShard(ctx, shard0.id)
      for (const [id, w] of routers) {
        await store.put(ctx.keys.router(id), JSON.stringify({id, address: '127.0.0.1:2', pid: 2, startedAt: 't', updatedAt: 't', mapRevision: String(s!.modRevision), epochs: {}, p99Ms: null, w}), routerLeases.get(id))
      }
    }
    await follow()

    const digest = async (_shard: number, epoch: number, o: {tombstonesBefore?: number; format?: number}): Promise<DigestResponse> => ({
      shard: shard0.id,
      epoch,
      range: shard0.range,
      bounds: [shard0.range.lo, shard0.range.hi],
      buckets: ['0'.repeat(16)],
      counts: [0],
      tombstonesBefore: o.tombstonesBefore,
      format: o.format ?? RECORD_HASH_FORMAT,
    })
    const client = async () => ({accept: async (_s: number, epoch: number) => ({epoch}), digest, drop: async () => ({deleted: 0})}) as unknown as NodeClient
    const phases: string[] = []
    let turns = 0
    const env: ExecutorEnv = {
      ctx,
      fence,
      client,
      ...fakeClockEnv(clock),
      sleep: async (ms: number) => {
        clock.now += ms
        await follow()
      },
      stopped: () => ++turns > 5_000,
      emit: (ev) => {
        if (ev.type === 'phase') phases.push(ev.phase)
      },
    }
    const real = nodeMoveEffects(env, async () => {
      throw new Error('unused')
    })
    env.effects = {
      ...real,
      barrier: async (shard, revision, nodes, interrupted) => {
        await follow()
        await awaitBarrier(env, shard, revision, nodes, interrupted)
      },
      // The copy: meanwhile r-w1 acknowledged a write on the source alone (the learner's apply
      // was lost), then stopped (its lease revoked: the entry goes); then the source's lease lapses.
      copy: async (e, m) => {
        routers.delete('r-w1')
        await store.revokeLease(routerLeases.get('r-w1')!)
        await store.delete(ctx.keys.alive(from))
        return commitMoveTransition(e.ctx, e.fence, m, {phase: 'promoting'})
      },
    }
    await runMove(env, await getMove(ctx, move.id))
    const final = (await getMove(ctx, move.id)).value
    // The write lives only on the source: cutting over (reads from n2, n3 and the destination) loses it.
    expect(phases).not.toContain('cutover')
    expect(['verifying', 'aborting', 'aborted']).toContain(final.phase)
  })
})
