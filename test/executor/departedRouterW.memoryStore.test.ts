import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../src/cluster/serviceContext.js'
import {awaitBarrier} from '../../src/executor/barrier.js'
import {type ExecutorEnv} from '../../src/executor/executorEnv.js'
import {nodeMoveEffects} from '../../src/executor/moveEffects.js'
import {runMove} from '../../src/executor/moveRunner.js'
import {commitMoveTransition, getMove, readShard} from '../../src/executor/moveStore.js'
import {type NodeClient} from '../../src/node/nodeClient.js'
import {type DigestResponse} from '../../src/node/protocol.js'
import {RECORD_HASH_FORMAT} from '../../src/node/recordHash.js'
import {recordWriteQuorum} from '../../src/router/writeFloorRecord.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {fakeClock, fakeClockEnv, moveOf} from './fixtures.js'

/**
 * Lost-write hunt on "the destination learns during the copy" (session 28): verification with
 * the source down falls back to the other old voters when no write quorum fits outside them,
 * |O \ S| < w. The writes verification must carry over were acknowledged by the routers that
 * ran *then*, not those registered when verification runs. A router with `--w 1` that
 * acknowledged a write on the source alone (the learner's apply lost, or, before the move, the
 * other voters' applies lost and their hints with the router) and has since stopped (its leased
 * `routers/<id>` entry gone) must still count: otherwise verification compares the destination
 * with the two other voters, which never had the write, passes, and the move cuts over without
 * it (the source's copy is dropped at cleanup, or by its orphan sweep while it is down).
 *
 * Session 28 sampled the registered routers at the move's barriers and every second of the
 * copy: a router that came and went between two samples, or was gone before the move began,
 * was missed. Session 29: every router lowers the cluster's write floor (`write-floor`) before
 * it registers, and the fallback counts the floor (src/model/writeFloor.ts).
 *
 * The real runMove, awaitBarrier, promotion and verification (liveCopySources, syncReplicas) run
 * on the memory store; the nodes are modelled: each answers `accept` with the epoch asked and
 * the same digest (the write the source alone holds is on no node that answers), so any
 * verification that compares the destination with the other voters only passes. Routers are
 * modelled as a router of this build starts: the floor lowered (recordWriteQuorum), then the
 * leased registration, kept following the map.
 */

interface World {
  ctx: ServiceContext
  store: MemoryStore
  from: string
  to: string
  /** start runs a router's start-up (the floor, then the registration); stop revokes its lease (its entry goes). */
  start(id: string, w: number | null): Promise<void>
  stop(id: string): Promise<void>
  /** run drives the move; `duringCopy` runs inside the copy step, after which the source's lease lapses. */
  /**
   * run's result: the phases entered, the last one, the shard's nodes then, the nodes asked to drop the range once the move
   * was aborting, and what the abort asked in order (`kept:<node>`: a digest of a node's kept copy, read as the move's;
   * `digest:<node>`: a digest of a node's replica; `drop:<node>`).
   */
  run(duringCopy: () => Promise<void>): Promise<{phases: string[]; final: string; replicas: string[]; dropped: string[]; aborting: string[]}>
}

async function world(opts: {floor?: 'absent'} = {}): Promise<World> {
  const clock = fakeClock()
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'w1'}, () => new Date(clock.now))
  await initCluster(ctx, {shards: 1, rf: 3, nodes: parseNodeSpecs('n1=127.0.0.1:7101@a,n2=127.0.0.1:7102@b,n3=127.0.0.1:7103@c,n4=127.0.0.1:7104@a'), force: false})
  // A cluster created by a build from before the floor: no key.
  if (opts.floor === 'absent') await store.delete(ctx.keys.writeFloor)
  const nodeLease = await store.grantLease(60)
  for (const id of ['n1', 'n2', 'n3', 'n4']) await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}), nodeLease.id)
  const shard0 = (await listShards(ctx)).shards[0]!.value
  const from = shard0.replicas[0]!.node
  const to = ['n1', 'n2', 'n3', 'n4'].find((n) => !shard0.replicas.some((r) => r.node === n))!

  const routers = new Map<string, {w: number | null; lease: string}>()
  const follow = async () => {
    const s = await readShard(ctx, shard0.id)
    for (const [id, r] of routers) {
      await store.put(ctx.keys.router(id), JSON.stringify({id, address: '127.0.0.1:2', pid: 2, startedAt: 't', updatedAt: 't', mapRevision: String(s!.modRevision), epochs: {}, p99Ms: null, w: r.w}), r.lease)
    }
  }
  const start = async (id: string, w: number | null) => {
    await recordWriteQuorum(ctx, {id, w})
    routers.set(id, {w, lease: (await store.grantLease(60)).id})
    await follow()
  }
  const stop = async (id: string) => {
    const r = routers.get(id)!
    routers.delete(id)
    await store.revokeLease(r.lease)
  }

  const run = async (duringCopy: () => Promise<void>) => {
    const move = moveOf({id: 'w1-0001', shard: shard0.id, from, to, baseEpoch: shard0.epoch, epoch: shard0.epoch})
    await store.put(ctx.keys.move(move.id), JSON.stringify(move))
    await store.put(ctx.keys.executorLock, JSON.stringify({holder: 'test'}))
    const fence = {key: ctx.keys.executorLock, createRevision: (await store.get(ctx.keys.executorLock))!.createRevision}
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
    const dropped: string[] = []
    const aborting: string[] = []
    const client = async (node: string) =>
      ({
        accept: async (_s: number, epoch: number) => ({epoch}),
        digest: async (s: number, epoch: number, o: {tombstonesBefore?: number; format?: number; keptFor?: string}) => {
          if (phases.includes('aborting')) aborting.push(o.keptFor === move.id ? `kept:${node}` : `digest:${node}`)
          return digest(s, epoch, o)
        },
        drop: async () => {
          // Only the abort's drops: the destination drops leftovers of the range before it joins too.
          if (phases.includes('aborting')) {
            dropped.push(node)
            aborting.push(`drop:${node}`)
          }
          return {deleted: 0}
        },
      }) as unknown as NodeClient
    const phases: string[] = []
    let turns = 0
    // An abort waits for the source while it keeps the destination's copy: a few turns of that wait are enough to see it.
    let abortingTurns = 0
    const env: ExecutorEnv = {
      ctx,
      fence,
      client,
      ...fakeClockEnv(clock),
      sleep: async (ms: number) => {
        clock.now += ms
        await follow()
      },
      stopped: () => ++turns > 5_000 || (phases.includes('aborting') && ++abortingTurns > 50),
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
      copy: async (e, m) => {
        await duringCopy()
        await store.delete(ctx.keys.alive(from))
        return commitMoveTransition(e.ctx, e.fence, m, {phase: 'promoting'})
      },
    }
    await runMove(env, await getMove(ctx, move.id))
    return {phases, final: (await getMove(ctx, move.id)).value.phase, replicas: (await readShard(ctx, shard0.id))!.value.replicas.map((r) => r.node), dropped, aborting}
  }
  return {ctx, store, from, to, start, stop, run}
}

/** mustNotCutOver: the write lives only on the source; cutting over (reads from n2, n3 and the destination) loses it. */
function mustNotCutOver(r: {phases: string[]; final: string; replicas: string[]; dropped: string[]; aborting: string[]}, old: {from: string; to: string}): void {
  expect(r.phases).not.toContain('cutover')
  // The source stays down past the retries: the move aborts back to its old set (which still holds the write, on the
  // source). At w = 1 the destination's copy may be the only copy up of a write the source acknowledged alone (its
  // learner was sent it), so it is not simply dropped: session 39 kept it, the move `aborting` until the source was back
  // (for ever for a source gone for good); since session 40 the old set's voters up are repaired from it first (read as
  // the move's kept copy), and only then is it dropped and the move `aborted`.
  expect(r.final).toBe('aborted')
  expect(r.replicas).toContain(old.from)
  expect(r.replicas).not.toContain(old.to)
  expect(r.dropped).toContain(old.to)
  const drop = r.aborting.indexOf(`drop:${old.to}`)
  const voters = r.replicas.filter((n) => n !== old.from)
  expect(voters.length).toBeGreaterThan(0)
  for (const v of voters) expect(r.aborting.indexOf(`digest:${v}`)).toBeGreaterThanOrEqual(0)
  for (const v of voters) expect(r.aborting.indexOf(`digest:${v}`)).toBeLessThan(drop)
  expect(r.aborting.indexOf(`kept:${old.to}`)).toBeGreaterThanOrEqual(0)
  expect(r.aborting.indexOf(`kept:${old.to}`)).toBeLessThan(drop)
}

describe('verification with the source down, after a --w 1 router that acknowledged a write on the source alone has left', () => {
  it('registered at the move\'s barriers, gone during the copy: waits for the source, then aborts', async () => {
    const w = await world()
    await w.start('r-majority', null)
    await w.start('r-w1', 1)
    mustNotCutOver(await w.run(() => w.stop('r-w1')), w)
  })

  it('registered after the copy began and gone before verification (between any two samples of the registrations): waits, then aborts', async () => {
    const w = await world()
    await w.start('r-majority', null)
    mustNotCutOver(
      await w.run(async () => {
        await w.start('r-w1', 1)
        await w.stop('r-w1')
      }),
      w,
    )
  })

  it('gone before the move began (its write from then is on the source alone too): waits, then aborts', async () => {
    const w = await world()
    await w.start('r-majority', null)
    await w.start('r-w1', 1)
    await w.stop('r-w1')
    mustNotCutOver(await w.run(async () => {}), w)
  })

  it('on a cluster whose floor is absent (created by an older build, whose routers may have run --w 1): waits, then aborts', async () => {
    const w = await world({floor: 'absent'})
    await w.start('r-majority', null)
    mustNotCutOver(await w.run(async () => {}), w)
  })

  it('when only majority routers ever ran, verification falls back to the two other voters and the move cuts over', async () => {
    const w = await world()
    await w.start('r-majority', null)
    await w.start('r-w2', 2)
    await w.stop('r-w2')
    const r = await w.run(async () => {})
    expect(r.phases).toContain('cutover')
  })
})
