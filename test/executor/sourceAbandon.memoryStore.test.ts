import {describe, expect, it} from 'vitest'
import {removeNode} from '../../src/cluster/nodeService.js'
import {UserError} from '../../src/errors/errors.js'
import {type ExecutorEnv, type ExecutorEvent} from '../../src/executor/executorEnv.js'
import {type MoveEffects, nodeMoveEffects} from '../../src/executor/moveEffects.js'
import {runMove} from '../../src/executor/moveRunner.js'
import {commitMoveTransition, getMove, readShard, requestRollback} from '../../src/executor/moveStore.js'
import {requestSourceAbandon} from '../../src/executor/sourceAbandon.js'
import {requestVotersAbandon} from '../../src/executor/votersAbandon.js'
import {sourceAbandonText} from '../../src/executor/sourceAbandonText.js'
import {keptCopyRepairText} from '../../src/executor/keptCopyRepairText.js'
import {applyOutcome} from '../../src/cli/runOutcome.js'
import {acknowledgeWarnings} from '../../src/executor/moveStore.js'
import {clusterStatus} from '../../src/cluster/clusterStatus.js'
import {lossWarnings} from '../../src/model/move.js'
import {type Move} from '../../src/model/move.js'
import {type Replica} from '../../src/model/shard.js'
import {type NodeClient} from '../../src/node/nodeClient.js'
import {NodeRequestError} from '../../src/node/nodeRequestError.js'
import {formatHlc} from '../../src/model/hlc.js'
import {RECORD_HASH_FORMAT} from '../../src/node/recordHash.js'
import {recordWriteQuorum} from '../../src/router/writeFloorRecord.js'
import {markNodesAlive, sourceDownWorld} from './fixtures.js'

/**
 * A cut-over move whose destination restarted since it was verified (another data dir or
 * process: verifiedDirs.ts) is refilled from its source before it goes on; with the source
 * down and no other copy enough (rf 1, or a router that ran with w = 1), it waits for the
 * source, for ever: in `cleanup` no rollback or cancel is accepted, and `node remove` refuses
 * the source while it is a replica. `moves abandon-source --accept-data-loss` is the way out
 * for a source gone for good (sourceAbandon.ts). The real runMove, move machine and node
 * effects on the memory store; the nodes answer digests with an empty, equal range.
 */

const STOP_AFTER_SLEEPS = 60
/** STOP_AFTER_STEPS bounds a run that never sleeps (a commit retried at once on every conflict) so it fails instead of hanging. */
const STOP_AFTER_STEPS = 2000

interface Stuck {
  ctx: Awaited<ReturnType<typeof sourceDownWorld>>['ctx']
  store: Awaited<ReturnType<typeof sourceDownWorld>>['store']
  move: Move
  from: string
  to: string
  others: string[]
  asked: string[]
  dropped: string[]
  events: ExecutorEvent[]
  /** run drives the move with runMove until it is terminal, or stops it after STOP_AFTER_SLEEPS sleeps; returns the move as stored. */
  run(opts?: {effects?: (base: MoveEffects) => MoveEffects; onDigest?: (node: string) => Promise<void>; client?: (node: string, base: NodeClient) => NodeClient}): Promise<Move>
}

/**
 * stuckMove: one shard at `rf`, its move cut over (destination voter, source outgoing) and in
 * `phase`, verified with the destination under claim `dir-old/i1`; the destination now serves
 * under `dir-new/i2` (restarted on another dir); the source down (no lease), every other node up.
 */
/**
 * abandonVotersThenBackAtVerify marks the move's down staying voters abandoned, then runs it with `down` registering again
 * right after its first verify (before the refill commits, which is fenced on its lease staying absent).
 */
async function abandonVotersThenBackAtVerify(s: Stuck, down: string): Promise<Move> {
  await requestVotersAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
  let back = false
  return s.run({
    effects: (base) => ({
      ...base,
      verify: async (...args: Parameters<MoveEffects['verify']>) => {
        await base.verify(...args)
        if (!back) {
          back = true
          await markNodesAlive(s.ctx, [down])
        }
      },
    }),
  })
}

async function stuckMove(rf: number, phase: Move['phase'], routerW: (number | null)[] = [], roles: {from: Replica['role']; to: Replica['role']} = {from: 'outgoing', to: 'voter'}): Promise<Stuck> {
  const w = await sourceDownWorld(rf, phase, (initial, from, to) => ({...initial, epoch: initial.epoch + 3, replicas: [...initial.replicas.map((r) => (r.node === from ? {node: from, role: roles.from} : r)), {node: to, role: roles.to}]}), {alive: ({to, others}) => [to, ...others], routerW})
  const {store, ctx} = w
  await store.put(ctx.keys.claim(w.to), JSON.stringify({node: w.to, dataDirId: 'dir-new', instance: 'i2'}))
  await store.put(ctx.keys.claim(w.from), JSON.stringify({node: w.from, dataDirId: 'dir-src', instance: 'i1'}))
  const move: Move = {...w.move, id: 'm1', cutoverAt: new Date(w.clock.now).toISOString(), copyStartedAt: 1, verifiedDirs: {[w.to]: 'dir-old/i1', [w.from]: 'dir-src/i1'}}
  await store.put(ctx.keys.move(move.id), JSON.stringify(move))
  await store.put(ctx.keys.executorLock, JSON.stringify({holder: 'test'}))
  const fence = {key: ctx.keys.executorLock, createRevision: (await store.get(ctx.keys.executorLock))!.createRevision}
  const events: ExecutorEvent[] = []
  const dropped: string[] = []
  return {
    ctx,
    store,
    move,
    from: w.from,
    to: w.to,
    others: w.others,
    asked: w.asked,
    dropped,
    events,
    async run(opts = {}) {
      let sleeps = 0
      let steps = 0
      const env: ExecutorEnv = {
        ...w.env,
        fence,
        emit: (ev) => events.push(ev),
        sleep: async (ms) => {
          w.clock.now += ms
          sleeps++
        },
        stopped: () => sleeps >= STOP_AFTER_SLEEPS || ++steps > STOP_AFTER_STEPS,
        client: async (node) => {
          const base = await w.env.client(node)
          const c = {
            ...base,
            digest: async (...args: Parameters<NodeClient['digest']>) => {
              await opts.onDigest?.(node)
              return base.digest(...args)
            },
            drop: async () => {
              dropped.push(node)
              return {deleted: 0}
            },
            // Every node up takes the shard's epoch at once (a barrier of a move in `cutover` or `release`).
            accept: async (_shard: number, epoch: number) => ({epoch}),
            // A source that is up has nothing in flight (the drain of a move going on with it).
            inflight: async () => ({inflight: 0}),
          } as unknown as NodeClient
          return opts.client ? opts.client(node, c) : c
        },
      }
      const base = nodeMoveEffects(env, async (_e, m) => m)
      env.effects = opts.effects ? opts.effects(base) : base
      return (await runMove(env, await getMove(ctx, move.id))).value
    },
  }
}

/**
 * keptCopyMove: {@link stuckMove} at `rf` (3 unless given) in `phase` before cutover or in a rollback's, the source a
 * voter and the destination `to` (joining unless given); a router that ran with write quorum `w` recorded in the
 * cluster's write floor (1: `r-gone`, null: `r-majority`; undefined: none); and, unless the phase is a rollback's
 * (`rb-…`), the move cancelled as `moves cancel` asks it (not cut over yet). The set-up of every case on a destination's
 * copy that an aborted or rolled-back move keeps.
 */
async function keptCopyMove(phase: Move['phase'], w: number | null | undefined, opts: {rf?: number; to?: Replica['role']} = {}): Promise<Stuck> {
  const s = await stuckMove(opts.rf ?? 3, phase, [], {from: 'voter', to: opts.to ?? 'joining'})
  if (w !== undefined) await recordWriteQuorum(s.ctx, {id: w === null ? 'r-majority' : 'r-gone', w})
  if (!phase.startsWith('rb-')) {
    const {cutoverAt: _c, verifiedDirs: _v, ...before} = s.move
    await s.store.put(s.ctx.keys.move(s.move.id), JSON.stringify({...before, cutoverAt: null, cancelRequested: true}))
  }
  return s
}

const stored = async (s: Stuck) => (await getMove(s.ctx, s.move.id)).value
const retries = (s: Stuck) => s.events.flatMap((e) => (e.type === 'retry' ? [e.error] : []))
const infos = (s: Stuck) => s.events.flatMap((e) => (e.type === 'info' ? [e.message] : []))

/**
 * traced records, in order, the digests asked (`kept:<node>`: of the node's copy kept outside the shard's map, read as
 * the move's; `digest:<node>`: of its replica) and the drops (`drop:<node>`); pass `opts` to Stuck.run.
 */
function traced(s: Stuck): {seen: string[]; opts: {client: (node: string, base: NodeClient) => NodeClient}} {
  const seen: string[] = []
  return {
    seen,
    opts: {
      client: (node, base) =>
        ({
          ...base,
          digest: async (...a: Parameters<NodeClient['digest']>) => {
            const r = await base.digest(...a)
            seen.push(a[2]?.keptFor === s.move.id ? `kept:${node}` : `digest:${node}`)
            return r
          },
          drop: async (...a: Parameters<NodeClient['drop']>) => {
            seen.push(`drop:${node}`)
            return base.drop(...a)
          },
        }) as unknown as NodeClient,
    },
  }
}

/** expectRepairedBeforeDrop: `copy`'s kept copy was read and each of `voters` compared with it before `copy` dropped its range. */
function expectRepairedBeforeDrop(seen: readonly string[], copy: string, voters: readonly string[]): void {
  const drop = seen.lastIndexOf(`drop:${copy}`)
  expect(drop).toBeGreaterThan(0)
  const kept = seen.indexOf(`kept:${copy}`)
  expect(kept).toBeGreaterThanOrEqual(0)
  expect(kept).toBeLessThan(drop)
  for (const v of voters) {
    const at = seen.lastIndexOf(`digest:${v}`, drop)
    expect(at, `${v} compared with ${copy}'s kept copy before the drop (${seen.join(' ')})`).toBeGreaterThanOrEqual(0)
  }
}

describe('a cut-over move waiting for a source gone for good', () => {
  it('at rf 1 waits for the source without end, and says how to end the wait', async () => {
    const s = await stuckMove(1, 'cleanup')
    const m = await s.run()
    expect(m.phase).toBe('cleanup')
    expect((await readShard(s.ctx, m.shard))!.value.replicas.map((r) => r.node)).toContain(s.from)
    expect(retries(s).length).toBeGreaterThan(10)
    expect(retries(s).at(-1)).toContain(`shardctl moves abandon-source ${s.move.id} --accept-data-loss`)
    // A cut-over move cannot abort: the wait must not say it will (until session 37 it said "the move aborts if it stays down").
    expect(retries(s).at(-1)).not.toContain('abort')
    // The dead source cannot be removed; the refusal names the way out.
    const err = await removeNode(s.ctx, s.from).then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(UserError)
    expect((err as UserError).hint).toContain(`shardctl moves abandon-source ${s.move.id} --accept-data-loss`)
  })

  it('refuses without --accept-data-loss, in one line naming the flag (BAD_INPUT, exit 2), changing nothing', async () => {
    const s = await stuckMove(1, 'cleanup')
    const before = await s.store.get(s.ctx.keys.move(s.move.id))
    const err = await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: false}).then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(UserError)
    expect((err as UserError).code).toBe('BAD_INPUT')
    expect((err as UserError).message).toContain('--accept-data-loss')
    expect((err as UserError).message).not.toContain('\n')
    expect((await s.store.get(s.ctx.keys.move(s.move.id)))!.modRevision).toBe(before!.modRevision)
  })

  it('refuses while the source holds its lease (merely down but not expired, or up), changing nothing', async () => {
    const s = await stuckMove(1, 'cleanup')
    await markNodesAlive(s.ctx, [s.from])
    const before = await s.store.get(s.ctx.keys.move(s.move.id))
    const err = await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true}).then(() => undefined, (e: unknown) => e)
    expect((err as UserError).code).toBe('PRECONDITION')
    expect((err as UserError).message).toContain(`node ${s.from} is up`)
    expect((await s.store.get(s.ctx.keys.move(s.move.id)))!.modRevision).toBe(before!.modRevision)
  })

  it('with --accept-data-loss at rf 1 finishes the move with what the destination holds, records it, and lets the node be removed', async () => {
    const s = await stuckMove(1, 'cleanup')
    const res = await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    expect(res.changed).toBe(true)
    expect((await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})).changed).toBe(false)
    const m = await s.run()
    expect(m.phase).toBe('done')
    expect((await readShard(s.ctx, m.shard))!.value.replicas).toEqual([{node: s.to, role: 'voter'}])
    expect(m.sourceAbandoned).toMatchObject({destinationDir: 'dir-new/i2', refilledFrom: []})
    expect(m.reason).toContain(`records only ${s.from}'s copy held are lost`)
    expect(infos(s).some((i) => i.includes(`source ${s.from} abandoned`))).toBe(true)
    // Nothing read from or dropped on the dead source.
    expect(s.asked).not.toContain(s.from)
    expect(s.dropped).toEqual([])
    expect((await removeNode(s.ctx, s.from)).changed).toBe(true)
  })

  it('at rf 3 with a w = 1 router refills from every staying voter that is up before going on without the source', async () => {
    const s = await stuckMove(3, 'cleanup', [null, 1])
    // Unmarked, it waits (a write acknowledged by the source alone may be nowhere else).
    expect((await s.run()).phase).toBe('cleanup')
    await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    s.asked.length = 0
    const m = await s.run()
    expect(m.phase).toBe('done')
    expect(m.sourceAbandoned?.refilledFrom).toEqual([...s.others].sort())
    expect(new Set(s.asked)).toEqual(new Set([...s.others, s.to]))
  })

  it('never skips a source that is up: marked, then registered again, it is read and nothing is abandoned', async () => {
    const s = await stuckMove(1, 'cleanup')
    await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    await markNodesAlive(s.ctx, [s.from])
    const m = await s.run()
    expect(m.phase).toBe('done')
    expect(m.sourceAbandoned).toBeUndefined()
    expect(s.asked).toContain(s.from)
    expect(s.dropped).toEqual([s.from])
  })

  it('a source that registers after the decision to go on without it fails that commit (fenced on its lease) and is read instead', async () => {
    const s = await stuckMove(3, 'cleanup', [null, 1])
    await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    // The first commit of the move is the one recording the abandonment: the source registers while it is on its way.
    const gate = s.store.faults.hold({op: 'txn', key: s.ctx.keys.move(s.move.id)})
    const running = s.run()
    await gate.reached
    await markNodesAlive(s.ctx, [s.from])
    gate.release()
    const m = await running
    expect(m.phase).toBe('done')
    expect(m.sourceAbandoned).toBeUndefined()
    expect(s.asked).toContain(s.from)
    expect(s.dropped).toEqual([s.from])
  })

  it('a source that comes back after it was abandoned, before its copy is dropped, is read after all', async () => {
    const s = await stuckMove(1, 'draining')
    await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    const m = await s.run({
      effects: (base) => ({
        ...base,
        // The cleanup grace passes with the source back up.
        drain: async () => markNodesAlive(s.ctx, [s.from]),
      }),
    })
    expect(m.phase).toBe('done')
    expect(m.sourceAbandoned?.sourceRefillAt).toBeDefined()
    expect(m.reason).toContain(`${s.from} came back before its copy was dropped`)
    expect(s.asked).toContain(s.from)
    expect(s.dropped).toEqual([s.from])
    expect((await stored(s)).phase).toBe('done')
  })
  it('at rf 3 with a w = 2 floor and a staying voter down too, waits for that voter: a write acknowledged by the source and it is on it alone now', async () => {
    const s = await stuckMove(3, 'cleanup', [2])
    const [up, down] = [...s.others].sort() as [string, string]
    await s.store.delete(s.ctx.keys.alive(down))
    await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    // Before the fix: refilled from the up voter alone and done, the writes on {source, down voter} missing from the destination.
    const waiting = await s.run()
    expect(waiting.phase).toBe('cleanup')
    expect(waiting.sourceAbandoned).toBeUndefined()
    expect(retries(s).at(-1)).toContain(down)
    await markNodesAlive(s.ctx, [down])
    const m = await s.run()
    expect(m.phase).toBe('done')
    expect(m.sourceAbandoned?.refilledFrom).toEqual([up, down])
  })

  it('a source that registers while the cleanup without it commits fails that commit (fenced on its lease) and is read before its copy is dropped', async () => {
    const s = await stuckMove(1, 'cleanup')
    await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    // The first move commit records the abandonment; the second is the cleanup leaving the down source's copy on its disk.
    const first = s.store.faults.hold({op: 'txn', key: s.ctx.keys.move(s.move.id)})
    const running = s.run()
    await first.reached
    const second = s.store.faults.hold({op: 'txn', key: s.ctx.keys.move(s.move.id)})
    first.release()
    await second.reached
    await markNodesAlive(s.ctx, [s.from])
    second.release()
    const m = await running
    expect(m.phase).toBe('done')
    expect(m.sourceAbandoned?.sourceRefillAt).toBeDefined()
    expect(s.asked).toContain(s.from)
    expect(s.dropped).toEqual([s.from])
  })
  it('a source that came back after it was abandoned is no longer abandoned: a later restart of the destination waits for it again', async () => {
    const s = await stuckMove(1, 'draining')
    await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    let restarted = false
    const m = await s.run({
      effects: (base) => ({
        ...base,
        // The source comes back during the cleanup grace (and the destination is refilled from it) ...
        drain: async () => markNodesAlive(s.ctx, [s.from]),
        // ... then, before its copy is dropped, it goes down again and the destination restarts on another dir.
        drop: async (node, shard) => {
          if (restarted) return base.drop(node, shard)
          restarted = true
          await s.store.delete(s.ctx.keys.alive(s.from))
          await s.store.put(s.ctx.keys.claim(s.to), JSON.stringify({node: s.to, dataDirId: 'dir-new2', instance: 'i3'}))
          throw new UserError('NODE_UNREACHABLE', `node ${node} went away`, 'retry')
        },
      }),
    })
    // Before the fix the mark, made when the source seemed gone for good, was honoured again: the destination went on
    // empty and the source's copy, read once and holding every record, was left behind unread.
    expect(m.phase).toBe('cleanup')
    expect(m.abandonSourceRequested).toBeUndefined()
    expect(retries(s).at(-1)).toContain(`shardctl moves abandon-source ${s.move.id} --accept-data-loss`)
    // The operator may abandon it again, and then it goes on without it.
    expect((await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})).changed).toBe(true)
    expect((await s.run()).phase).toBe('done')
  })
})

describe('a rollback of a move whose source is down or abandoned', () => {
  it('is refused while the source holds no lease, in one line (PRECONDITION, exit 1), changing nothing', async () => {
    const s = await stuckMove(1, 'cutover')
    const before = await s.store.get(s.ctx.keys.move(s.move.id))
    // Before: accepted, and the executor flipped reads back to the dead source and dropped the destination's copy.
    const err = await requestRollback(s.ctx, s.move.id).then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(UserError)
    expect((err as UserError).code).toBe('PRECONDITION')
    expect((err as UserError).message).toContain(`${s.from}, the source of move ${s.move.id}, is down`)
    expect((err as UserError).message).not.toContain('\n')
    expect((err as UserError).hint).toContain(`start ${s.from}`)
    expect((await s.store.get(s.ctx.keys.move(s.move.id)))!.modRevision).toBe(before!.modRevision)
  })

  it('is refused once the source is marked abandoned, even with its lease back (the executor withdraws the mark first)', async () => {
    const s = await stuckMove(1, 'cutover')
    await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    await markNodesAlive(s.ctx, [s.from])
    const before = await s.store.get(s.ctx.keys.move(s.move.id))
    const err = await requestRollback(s.ctx, s.move.id).then(() => undefined, (e: unknown) => e)
    expect((err as UserError).code).toBe('PRECONDITION')
    expect((err as UserError).message).toContain(`source ${s.from} is marked abandoned`)
    expect((await s.store.get(s.ctx.keys.move(s.move.id)))!.modRevision).toBe(before!.modRevision)
  })

  it('requested while the source was up, then the source dies: waits for it without flipping reads to it, and abandon-source withdraws the rollback and lets the move finish', async () => {
    const s = await stuckMove(1, 'cutover')
    await markNodesAlive(s.ctx, [s.from])
    expect((await requestRollback(s.ctx, s.move.id)).changed).toBe(true)
    await s.store.delete(s.ctx.keys.alive(s.from))
    const shardBefore = (await readShard(s.ctx, s.move.shard))!.value
    // Before: the rollback flipped reads back to the dead source and dropped the destination's copy (at rf 1 the only one up).
    const waiting = await s.run()
    expect(waiting.phase).toBe('cutover')
    expect(waiting.rollbackRequested).toBe(true)
    expect((await readShard(s.ctx, s.move.shard))!.value).toEqual(shardBefore)
    expect(s.dropped).toEqual([])
    expect(retries(s).at(-1)).toContain(`shardctl moves abandon-source ${s.move.id} --accept-data-loss`)
    const res = await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    expect(res.changed).toBe(true)
    expect(res.message).toContain('rollback')
    expect((await stored(s)).rollbackRequested).toBe(false)
    const m = await s.run()
    expect(m.phase).toBe('done')
    expect(m.sourceAbandoned).toBeDefined()
    expect(s.asked).not.toContain(s.from)
  })
})

describe('a rollback in flight whose source dies', () => {
  for (const [phase, roles, back] of [
    ['rb-joining', {from: 'joining', to: 'voter'}, 'release'],
    ['rb-cutover', {from: 'voter', to: 'joining'}, 'cutover'],
  ] as const) {
    it(`in ${phase} waits for the source without dropping the destination's copy, and abandon-source turns the move forward again (${back}) to finish`, async () => {
      const s = await stuckMove(1, phase, [], roles)
      const shardBefore = (await readShard(s.ctx, s.move.shard))!.value
      // Before: the rollback went on against the dead source (in rb-cutover at once), removed the destination and dropped its
      // copy, the only one up: rolledback onto a node that may never come back.
      const waiting = await s.run()
      expect(waiting.phase).toBe(phase)
      expect((await readShard(s.ctx, s.move.shard))!.value).toEqual(shardBefore)
      expect(s.dropped).toEqual([])
      expect(retries(s).at(-1)).toContain(`shardctl moves abandon-source ${s.move.id} --accept-data-loss`)
      const res = await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
      expect(res.changed).toBe(true)
      const m = await s.run()
      expect(m.phase).toBe('done')
      expect(m.rollbackRequested).toBe(false)
      expect(infos(s).some((i) => i.includes(`turned forward again (${back})`))).toBe(true)
      expect((await readShard(s.ctx, m.shard))!.value.replicas).toEqual([{node: s.to, role: 'voter'}])
      expect(s.asked).not.toContain(s.from)
    })
  }
  it('in rb-joining, marked abandoned, then back before the move turned forward: the rollback goes on onto it and the mark is withdrawn (session 39)', async () => {
    const s = await stuckMove(1, 'rb-joining', [], {from: 'joining', to: 'voter'})
    await s.store.put(s.ctx.keys.claim(s.to), JSON.stringify({node: s.to, dataDirId: 'dir-old', instance: 'i1'}))
    expect((await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})).changed).toBe(true)
    await markNodesAlive(s.ctx, [s.from])
    const m = await s.run()
    expect(m.phase).toBe('rolledback')
    // Before: still marked abandoned while rolled back onto that source (`moves show`: "source abandoned by the operator").
    expect(m.abandonSourceRequested).toBeUndefined()
    expect(sourceAbandonText(m)).toBeUndefined()
    expect(infos(s).some((i) => i.includes('the mark is withdrawn'))).toBe(true)
  })
  // The executor resumed (after a SIGKILL, say) in rb-cutover's second half: the destination was removed from the shard
  // while the source still held its lease, then the source died. At rf 1 the rolled-back shard's one replica is down,
  // and the destination's copy holds every write acknowledged until its removal (both acked each one). Until this
  // test, the move dropped that copy at once, the only one up, and ended `rolledback` on a node that may never come back;
  // marked abandoned, that loses every record, where the mark promised only what the source alone held.
  it("in rb-cutover with the destination already removed and no read voter of the shard up, keeps the destination's copy and waits for the source", async () => {
    const s = await keptCopyMove('rb-cutover', undefined, {rf: 1})
    const listed = (await readShard(s.ctx, s.move.shard))!.value
    const removed = {...listed, epoch: listed.epoch + 1, replicas: listed.replicas.filter((r) => r.node !== s.to)}
    await s.store.put(s.ctx.keys.shard(removed.id), JSON.stringify(removed))
    const waiting = await s.run()
    expect(s.dropped).toEqual([])
    expect(waiting.phase).toBe('rb-cutover')
    expect(retries(s).at(-1)).toContain(`${s.to}'s copy`)
    // Abandoning the source does not drop the last copy up either.
    await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    const still = await s.run()
    expect(s.dropped).toEqual([])
    expect(still.phase).toBe('rb-cutover')
    // The source back: the rollback ends, dropping the destination's copy (the source holds every write).
    await markNodesAlive(s.ctx, [s.from])
    const m = await s.run()
    expect(m.phase).toBe('rolledback')
    expect(s.dropped).toEqual([s.to])
  })
})

/**
 * A destination that has left the shard (an abort, or the rollback's removal of it) drops its copy of the range. With
 * the source down and a write floor at w = 1 (a `--w 1` router ran on the cluster, here one gone since: only the floor
 * says so), that copy may be the only one up of an acknowledged write: the joint quorum at w = 1 acknowledges a write
 * on the source and the destination alone (rf 3: 1 of the old set, 1 of the new), and a learner is sent every write
 * a source acknowledges alone. The other voters, up, never had it. Until session 39 the copy was dropped, leaving the
 * write on the dead source alone (for good if its machine is gone); only at rf 1, with no read voter up at all, did
 * `rb-cutover` keep it (session 38). Session 39 made the drop follow the rule a move whose source is down copies by
 * (chooseCopySources): at w = 1 it waited for the source (for ever, for one gone for good); with w >= 2 the other
 * voters up suffice. Since session 40 the copy is kept until the voters up are repaired from it (read as the move's kept
 * copy: `kept:<node>` below), then dropped: the move ends without the source.
 */
describe("a destination's copy, once it left the shard, with the source down", () => {
  const removeDestination = async (s: Stuck) => {
    const listed = (await readShard(s.ctx, s.move.shard))!.value
    await s.store.put(s.ctx.keys.shard(listed.id), JSON.stringify({...listed, epoch: listed.epoch + 1, replicas: listed.replicas.filter((r) => r.node !== s.to)}))
  }

  it('in rb-cutover at rf 3 after a --w 1 router ran, is kept until the voters up are repaired from it (a write acked by the source and the destination alone is on no other voter)', async () => {
    const s = await keptCopyMove('rb-cutover', 1)
    // The executor removed the destination while the source was up; then the source died.
    await removeDestination(s)
    // The voters cannot be repaired yet (they do not answer): the copy is kept, the move waits.
    const t = traced(s)
    const waiting = await s.run({...t.opts, onDigest: async (node) => {
      if (s.others.includes(node)) throw new Error(`${node} does not answer`)
    }})
    expect(s.dropped).toEqual([])
    expect(waiting.phase).toBe('rb-cutover')
    expect(retries(s).at(-1)).toContain(`from ${s.to}'s kept copy`)
    expect(retries(s).at(-1)).toContain('does not answer')
    // They answer: repaired from the copy, then the copy is dropped, the source still down.
    const m = await s.run(t.opts)
    expect(m.phase).toBe('rolledback')
    expect(s.dropped).toEqual([s.to])
    expectRepairedBeforeDrop(t.seen, s.to, s.others)
    expect(m.reason).toContain(`repaired into ${[...s.others].sort().join(', ')}`)
  })

  /**
   * Session 39 (found by huntalive, recorded as an `it.fails`): the source back, but on another data dir (a replaced
   * disk served with --accept-empty-data) after the destination left the shard in `rb-cutover`. A write acknowledged at
   * w = 1 by the source and the destination alone (the joint quorum) is then on the destination's copy alone: the
   * source's new dir never had it and the other voters never did. The rule dropped the copy because the source was up
   * (destinationCopyKeep.ts looked at its lease only). Now a source whose claim names another data dir than the one its
   * copy was compared under (verifiedDirs) counts as down there: the copy is kept.
   */
  it('in rb-cutover at w = 1, a source back on another data dir after the destination left the shard does not get the copy dropped until it and the other voters are repaired from it', async () => {
    const s = await keptCopyMove('rb-cutover', 1)
    await removeDestination(s)
    // The source comes back on a replaced, empty dir (claims/<id> names another data dir than the one verified).
    await s.store.put(s.ctx.keys.claim(s.from), JSON.stringify({node: s.from, dataDirId: 'dir-replaced', instance: 'i9'}))
    await markNodesAlive(s.ctx, [s.from])
    // The copy's node refuses its reads for now (say, a build without kept-copy reads): kept, waiting.
    const t = traced(s)
    const waiting = await s.run({...t.opts, onDigest: async (node) => {
      if (node === s.to) throw new Error(`${node} refuses`)
    }})
    expect(s.dropped).toEqual([])
    expect(waiting.phase).toBe('rb-cutover')
    expect(retries(s).at(-1)).toContain(`${s.to}'s kept copy`)
    // Answering, it repairs every voter up, the source on its new dir included, before it is dropped.
    const m = await s.run(t.opts)
    expect(m.phase).toBe('rolledback')
    expect(s.dropped).toEqual([s.to])
    expectRepairedBeforeDrop(t.seen, s.to, [s.from, ...s.others])
  })

  it('in rb-cutover with only majority routers ever, a source back on another data dir after the destination left the shard does not hold the copy: the other voters up hold every acknowledged write', async () => {
    const s = await keptCopyMove('rb-cutover', null)
    await removeDestination(s)
    await s.store.put(s.ctx.keys.claim(s.from), JSON.stringify({node: s.from, dataDirId: 'dir-replaced', instance: 'i9'}))
    await markNodesAlive(s.ctx, [s.from])
    const m = await s.run()
    expect(m.phase).toBe('rolledback')
    expect(s.dropped).toEqual([s.to])
  })

  it('in rb-cutover at rf 3 with only majority routers ever, is dropped at once: the other voters up hold every acknowledged write', async () => {
    const s = await keptCopyMove('rb-cutover', null)
    await removeDestination(s)
    const m = await s.run()
    expect(m.phase).toBe('rolledback')
    expect(s.dropped).toEqual([s.to])
  })

  for (const [phase, role] of [
    ['joining', 'learning'],
    ['copying', 'learning'],
    ['promoting', 'joining'],
    ['verifying', 'joining'],
  ] as const) {
    it(`cancelled in ${phase} at rf 3 after a --w 1 router ran: the shard goes back to its old set at once, and the copy is kept until the voters up are repaired from it`, async () => {
      const s = await keptCopyMove(phase, 1, {to: role})
      // The destination is down once it left the shard: its copy cannot be read, so it is kept and the move waits.
      const t = traced(s)
      await s.store.delete(s.ctx.keys.alive(s.to))
      const waiting = await s.run(t.opts)
      expect(waiting.phase).toBe('aborting')
      expect((await readShard(s.ctx, s.move.shard))!.value.replicas.map((r) => r.node)).not.toContain(s.to)
      expect(s.dropped).toEqual([])
      expect(retries(s).at(-1)).toContain(`${s.to}'s copy`)
      expect(retries(s).at(-1)).toContain(`once ${s.to} is up again`)
      // Back up (the source still down): the voters are repaired from its copy, then it is dropped.
      await markNodesAlive(s.ctx, [s.to])
      const m = await s.run(t.opts)
      expect(m.phase).toBe('aborted')
      expect(s.dropped).toEqual([s.to])
      expectRepairedBeforeDrop(t.seen, s.to, s.others)
    })
  }

  it('cancelled at rf 3 with only majority routers ever, is dropped at once', async () => {
    const s = await keptCopyMove('verifying', null)
    const m = await s.run()
    expect(m.phase).toBe('aborted')
    expect(s.dropped).toEqual([s.to])
  })
})

/**
 * Session 40: at w = 1 a move whose source is gone for good waited in `aborting` (or `rb-cutover`) for ever, keeping the
 * destination's copy (it may be the only one up of a write acknowledged by the source and the destination alone), and
 * `moves abandon-source` refuses a move not cut over: no way out. Now the executor repairs the shard's voters up from
 * the kept copy (read as the move's: the node holds no role in the shard) and only then drops it and ends the move.
 */
describe('a move whose source is gone for good at w = 1 (session 40)', () => {
  it('cancelled before cutover, ends aborted without the source: the voters up are repaired from the destination\'s copy before it is dropped', async () => {
    const s = await keptCopyMove('verifying', 1)
    const t = traced(s)
    const m = await s.run(t.opts)
    expect(m.phase).toBe('aborted')
    expect((await readShard(s.ctx, s.move.shard))!.value.replicas.map((r) => r.node).sort()).toEqual([s.from, ...s.others].sort())
    expect(s.dropped).toEqual([s.to])
    expectRepairedBeforeDrop(t.seen, s.to, s.others)
    expect(infos(s).some((i) => i.includes(`repaired ${[...s.others].sort().join(', ')} from ${s.to}'s kept copy`))).toBe(true)
  })

  it('a voter that restarts after the repair, before the drop, is repaired again first (the repair is keyed on the claims, the commit fenced on them)', async () => {
    const s = await keptCopyMove('verifying', 1)
    const voter = s.others[0]!
    const repairs: string[][] = []
    const m = await s.run({
      effects: (base) => ({
        ...base,
        async repairFromCopy(move, shard, voters) {
          repairs.push([...voters])
          const n = await base.repairFromCopy!(move, shard, voters)
          // The voter comes back on a replaced dir right after it was repaired: what the repair gave it is gone.
          if (repairs.length === 1) await s.store.put(s.ctx.keys.claim(voter), JSON.stringify({node: voter, dataDirId: 'dir-replaced', instance: 'i7'}))
          return n
        },
      }),
    })
    expect(m.phase).toBe('aborted')
    expect(repairs.length).toBe(2)
    expect(repairs[1]).toContain(voter)
    expect(s.dropped).toEqual([s.to])
  })

  it('trouble reading the kept copy never fails the move (failed would end it, and the orphan sweep would remove the copy): it waits', async () => {
    const s = await keptCopyMove('verifying', 1)
    const m = await s.run({onDigest: async (node) => {
      if (node === s.to) throw new Error('NOT_OWNER (a build without kept-copy reads)')
    }})
    expect(m.phase).toBe('aborting')
    expect(m.attempts).toBe(0)
    expect(s.dropped).toEqual([])
    expect(retries(s).at(-1)).toContain(`${s.to}'s kept copy`)
  })

  it('at rf 1 (no voter but the source) still waits for the source: there is no voter to repair', async () => {
    const s = await keptCopyMove('verifying', undefined, {rf: 1})
    const m = await s.run()
    expect(m.phase).toBe('aborting')
    expect(s.dropped).toEqual([])
    expect(retries(s).at(-1)).toContain('once a voter of the shard is up')
  })
})

describe('the record of a move that went on without its source', () => {
  it('keeps the first abandonment when the destination restarts again and is refilled without the source once more', async () => {
    const s = await stuckMove(1, 'draining')
    await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    let restarted = false
    const m = await s.run({
      effects: (base) => ({
        ...base,
        // After the first refill without the source, the destination restarts on another dir again.
        drain: async (move) => {
          if (!restarted) {
            restarted = true
            await s.store.put(s.ctx.keys.claim(s.to), JSON.stringify({node: s.to, dataDirId: 'dir-new2', instance: 'i3'}))
          }
          return base.drain(move)
        },
      }),
    })
    expect(m.phase).toBe('done')
    // Before: the second refill replaced the record, and the first loss (when, which dir) was gone.
    expect(m.sourceAbandoned).toMatchObject({destinationDir: 'dir-new2/i3', earlier: [{destinationDir: 'dir-new/i2', refilledFrom: []}]})
    const text = sourceAbandonText(m)!
    expect(text).toContain(`first at ${m.sourceAbandoned!.earlier![0]!.at}`)
    expect(text).toContain(`records only ${s.from}'s copy held are lost`)
  })

  it('still tells the loss when the abandoned source comes back on another data dir (it no longer holds its copy)', async () => {
    const s = await stuckMove(1, 'draining')
    await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    const m = await s.run({
      effects: (base) => ({
        ...base,
        // The source comes back during the cleanup grace, on a replaced disk (served with --accept-empty-data).
        drain: async () => {
          await s.store.put(s.ctx.keys.claim(s.from), JSON.stringify({node: s.from, dataDirId: 'dir-src-new', instance: 'i9'}))
          await markNodesAlive(s.ctx, [s.from])
        },
      }),
    })
    expect(m.phase).toBe('done')
    // Before: "came back before its copy was dropped and n1 was refilled from it", the loss no longer told.
    expect(m.sourceAbandoned).toMatchObject({sourceRefillDir: 'dir-src-new/i9', sourceDirReplaced: true})
    const text = sourceAbandonText(m)!
    expect(text).toContain(`records only ${s.from}'s copy held are lost`)
    expect(text).toContain('another data dir')
    expect(m.reason).not.toContain('was refilled from it')
  })

  it('a staying voter that restarts between the refill without the source and its commit fails that commit, and is read again', async () => {
    const s = await stuckMove(3, 'cleanup', [null, 1])
    for (const n of s.others) await s.store.put(s.ctx.keys.claim(n), JSON.stringify({node: n, dataDirId: `dir-${n}`, instance: 'i1'}))
    await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    const [peer] = [...s.others].sort() as [string]
    // The first commit of the move is the one recording the abandonment: the staying voter restarts while it is on its way.
    const gate = s.store.faults.hold({op: 'txn', key: s.ctx.keys.move(s.move.id)})
    const running = s.run()
    await gate.reached
    await s.store.put(s.ctx.keys.claim(peer), JSON.stringify({node: peer, dataDirId: `dir-${peer}-new`, instance: 'i2'}))
    const askedBefore = s.asked.length
    gate.release()
    const m = await running
    expect(m.phase).toBe('done')
    // Before: the commit went through on the strength of a refill from the voter's old process and dir.
    expect(s.asked.slice(askedBefore)).toContain(peer)
    expect(m.sourceAbandoned?.refilledFrom).toEqual([...s.others].sort())
  })
})

/**
 * sustainedWrites: node clients for `s`'s source and destination under sustained writes: every
 * look differs in one bucket, and every listing of the source finds a write newer than the last
 * (in flight to the destination while the round lists it: a joint-quorum write the source
 * committed first); the first listing also an old record the restarted destination lost, and
 * with `oldEveryRound` every listing one (a repair that never sticks). Records applied to the
 * destination are pushed to `applied`.
 */
function sustainedWrites(s: Stuck, applied: string[], oldEveryRound = false, writerBehindMs = 0): (node: string, base: NodeClient) => NodeClient {
  // The writers' (routers') clock, `writerBehindMs` behind the executor's.
  const now = () => (s.ctx.clock as () => Date)().getTime() - writerBehindMs
  let listings = 0
  return (node, base) =>
    node !== s.from && node !== s.to
      ? base
      : ({
          ...base,
          digest: async (shard: number, epoch: number, o: {tombstonesBefore?: number; format?: number}) => ({
            shard,
            epoch,
            range: {lo: 0, hi: 100},
            bounds: [0, 100],
            buckets: [node === s.from ? 'a'.repeat(16) : '0'.repeat(16)],
            counts: [1],
            tombstonesBefore: o.tombstonesBefore,
            format: o.format ?? RECORD_HASH_FORMAT,
          }),
          bucketRecords: async (_shard: number, _epoch: number, buckets: number[]) => {
            if (node !== s.from) return {records: [], answered: [...buckets]}
            const fresh = {key: Buffer.from(`fresh-${listings}`), version: formatHlc({wall: now(), counter: listings, writer: 'r1'}), value: Buffer.from('v')}
            const old = listings === 0 || oldEveryRound ? [{key: Buffer.from('old'), version: formatHlc({wall: 1, counter: 0, writer: 'r1'}), value: Buffer.from('v')}] : []
            listings++
            return {records: [...old, fresh], answered: [...buckets]}
          },
          apply: async (_shard: number, epoch: number, records: {key: Buffer}[]) => {
            applied.push(...records.map((r) => r.key.toString()))
            return {epoch, applied: records.length, ignored: 0}
          },
        }) as unknown as NodeClient
}

describe('the refill of a destination restarted after cutover, under sustained writes', () => {
  it('ends once its last round repaired only writes newer than the refill (as verification does), instead of retrying for ever', async () => {
    const s = await stuckMove(1, 'cutover')
    await markNodesAlive(s.ctx, [s.from])
    const applied: string[] = []
    const m = await s.run({client: sustainedWrites(s, applied)})
    // Before: every round repaired one fresh write, so none was "equal" and the refill threw after
    // its rounds, retried without bound (past cutover): the move stayed in cutover.
    expect(m.phase).toBe('done')
    expect(applied).toContain('old')
  })

  // The writes' versions come from the routers' clocks, the refill's start from the executor's. Until this test the refill's
  // "fresh" began at its own start by the executor's clock, so with the routers' clocks a few seconds behind (more than
  // the refill's rounds take) every write in flight counted as older than the refill, and under sustained writes in
  // `cutover` it was retried for ever again; verification and the rollback's catch-up count from the copy's start and
  // the cutover, long before, and do not depend on the clocks agreeing to within a round.
  it('ends too when the writers\' clocks are behind the executor\'s by more than its rounds take', async () => {
    const s = await stuckMove(1, 'cutover')
    await markNodesAlive(s.ctx, [s.from])
    // Cut over a minute before the destination restarted and was refilled.
    await s.store.put(s.ctx.keys.move(s.move.id), JSON.stringify({...(await stored(s)), cutoverAt: new Date(Date.parse(s.move.cutoverAt!) - 60_000).toISOString()}))
    const applied: string[] = []
    const m = await s.run({client: sustainedWrites(s, applied, false, 3_000)})
    expect(m.phase).toBe('done')
    expect(applied).toContain('old')
  })

  it('still never ends while older records keep differing on its last round', async () => {
    const s = await stuckMove(1, 'cutover')
    await markNodesAlive(s.ctx, [s.from])
    const m = await s.run({client: sustainedWrites(s, [], true)})
    expect(m.phase).toBe('cutover')
    expect(retries(s).at(-1)).toContain(`still lacks records of shard ${m.shard}`)
  })
})

describe('a destination that restarts after the source dropped its copy, before the move is done', () => {
  it('is refilled from the source as it now is (nothing) and the move finishes: what the move held lives on the destination', async () => {
    const s = await stuckMove(1, 'cleanup')
    // Verified as it serves now; the source up: the cleanup drops the source's copy.
    await s.store.put(s.ctx.keys.claim(s.to), JSON.stringify({node: s.to, dataDirId: 'dir-old', instance: 'i1'}))
    await markNodesAlive(s.ctx, [s.from])
    let restarted = false
    const m = await s.run({
      effects: (base) => ({
        ...base,
        drop: async (node, shard) => {
          const n = await base.drop(node, shard)
          if (!restarted) {
            restarted = true
            await s.store.put(s.ctx.keys.claim(s.to), JSON.stringify({node: s.to, dataDirId: 'dir-old', instance: 'i2'}))
          }
          return n
        },
      }),
    })
    expect(m.phase).toBe('done')
    expect(m.verifiedDirs?.[s.to]).toBe('dir-old/i2')
    expect(s.asked).toContain(s.from)
    expect((await readShard(s.ctx, m.shard))!.value.replicas).toEqual([{node: s.to, role: 'voter'}])
  })
})

/** outcomeOf is how `apply` would end for a run whose only move ended as `m` (src/cli/runOutcome.ts). */
const outcomeOf = (m: Move) => applyOutcome({counts: {[m.phase]: 1}, stopped: false, moves: [{phase: m.phase, warnings: m.warnings ?? []}]})

describe('the outcome of a move that went on without its source (session 39)', () => {
  // Until session 39 the move ended `done` with the loss in `sourceAbandoned` and its reason only:
  // `apply` exited 0, and a pipeline gating on it read the accepted, unchecked loss as success.
  it('is a warning of possible data loss: apply exits POSSIBLE_DATA_LOSS, cluster status lists it, moves ack acknowledges it', async () => {
    const s = await stuckMove(1, 'cleanup')
    await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    const m = await s.run()
    expect(m.phase).toBe('done')
    expect(lossWarnings(m)).toHaveLength(1)
    expect(lossWarnings(m)[0]!.text).toContain(`went on without its source ${s.from}`)
    // No node named: the autopilot must not hold the dead source off (it would stop healing its other shards).
    expect(lossWarnings(m)[0]!.node).toBeUndefined()
    const o = outcomeOf(m)
    expect(o.code).toBe('POSSIBLE_DATA_LOSS')
    expect(o.line).toContain('went on without a source abandoned with --accept-data-loss')
    expect(o.line).toContain('moves ack')
    expect((await clusterStatus(s.ctx)).lossWarnings).toEqual([expect.objectContaining({move: s.move.id, phase: 'done'})])
    const ack = await acknowledgeWarnings(s.ctx, s.move.id)
    expect(ack.acknowledged).toBe(1)
    expect(ack.message).not.toContain('autopilot')
    const after = await stored(s)
    expect(outcomeOf(after).code).toBeNull()
    expect((await clusterStatus(s.ctx)).lossWarnings).toEqual([])
  })

  it('is withdrawn when the source comes back on its verified dir before its copy is dropped and is read after all', async () => {
    const s = await stuckMove(1, 'draining')
    await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    const m = await s.run({effects: (base) => ({...base, drain: async () => markNodesAlive(s.ctx, [s.from])})})
    expect(m.phase).toBe('done')
    expect(m.sourceAbandoned?.sourceRefillAt).toBeDefined()
    expect(m.warnings?.[0]?.text).toContain('withdrawn')
    expect(lossWarnings(m)).toEqual([])
    expect(outcomeOf(m).code).toBeNull()
  })

  // Until session 40's hunt the warning was withdrawn whenever the source came back on its verified dir, though in
  // `cleanup` its drop may have been sent before it died (recorded in sourceDropSentAt): the refill from it then read what
  // remained of a dropped copy, and at rf 1 a destination back on an empty dir ended `done`, apply exit 0, every value lost.
  it('stays a loss when the source comes back on its verified dir after its drop was recorded in cleanup (its copy may be dropped)', async () => {
    const s = await stuckMove(1, 'cleanup')
    // The executor recorded the drop and sent it; the source dropped its copy and died before the commit to `done`.
    await s.store.put(s.ctx.keys.move(s.move.id), JSON.stringify({...(await stored(s)), sourceDropSentAt: new Date(0).toISOString()}))
    await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    let gate: ReturnType<typeof s.store.faults.hold> | undefined
    const running = s.run({
      effects: (base) => ({
        ...base,
        verify: async (...args: Parameters<MoveEffects['verify']>) => {
          await base.verify(...args)
          // The refill without the source is done: its commit lands, and the source comes back before the move goes on.
          if (!gate) gate = s.store.faults.hold({op: 'txn', key: s.ctx.keys.move(s.move.id), when: 'after'})
        },
      }),
    })
    while (!gate) await new Promise((r) => setImmediate(r))
    await gate.reached
    expect((await stored(s)).sourceAbandoned).toBeDefined()
    await markNodesAlive(s.ctx, [s.from])
    gate.release()
    const m = await running
    expect(m.phase).toBe('done')
    expect(s.asked).toContain(s.from)
    expect(lossWarnings(m)).toHaveLength(1)
    expect(outcomeOf(m).code).toBe('POSSIBLE_DATA_LOSS')
    expect(m.sourceAbandoned?.sourceDropMaySent).toBe(true)
    expect(sourceAbandonText(m)).toContain(`after its drop may have been sent, and ${s.to} was refilled from what remained of its copy; records only ${s.from}'s copy held are lost`)
  })

  it('stays a loss when the source comes back on another data dir', async () => {
    const s = await stuckMove(1, 'draining')
    await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    const m = await s.run({
      effects: (base) => ({
        ...base,
        drain: async () => {
          await s.store.put(s.ctx.keys.claim(s.from), JSON.stringify({node: s.from, dataDirId: 'dir-src-new', instance: 'i9'}))
          await markNodesAlive(s.ctx, [s.from])
        },
      }),
    })
    expect(m.sourceAbandoned?.sourceDirReplaced).toBe(true)
    expect(outcomeOf(m).code).toBe('POSSIBLE_DATA_LOSS')
  })
})

describe('a destination that restarts on another data dir after the source dropped its copy (session 39)', () => {
  /** restartAtDrop runs a cleanup whose source is up: when the source drops its copy, the destination comes back under `dir`. */
  async function restartAtDrop(s: Stuck, dir: {dataDirId: string; instance: string}): Promise<Move> {
    await s.store.put(s.ctx.keys.claim(s.to), JSON.stringify({node: s.to, dataDirId: 'dir-old', instance: 'i1'}))
    await markNodesAlive(s.ctx, [s.from])
    let restarted = false
    return s.run({
      effects: (base) => ({
        ...base,
        drop: async (node, shard) => {
          const n = await base.drop(node, shard)
          if (!restarted && node === s.from) {
            restarted = true
            await s.store.put(s.ctx.keys.claim(s.to), JSON.stringify({node: s.to, ...dir}))
          }
          return n
        },
      }),
    })
  }

  // Until session 39: refilled from the source's (dropped) copy, nothing found, `done` with no mention; apply exited 0.
  it('at rf 1 ends done with a warning of possible data loss: apply exits POSSIBLE_DATA_LOSS and cluster status lists it', async () => {
    const s = await stuckMove(1, 'cleanup')
    const m = await restartAtDrop(s, {dataDirId: 'dir-empty', instance: 'i2'})
    expect(m.phase).toBe('done')
    expect(m.verifiedDirs?.[s.to]).toBe('dir-empty/i2')
    expect(lossWarnings(m)).toHaveLength(1)
    expect(lossWarnings(m)[0]!.text).toContain('on another data dir than the one verified')
    const o = outcomeOf(m)
    expect(o.code).toBe('POSSIBLE_DATA_LOSS')
    expect(o.line).toContain('a destination restarted without its copy after the source dropped its own')
    expect((await clusterStatus(s.ctx)).lossWarnings).toHaveLength(1)
  })

  it('at rf 3 with a majority write floor is refilled from the staying voters, says so, and is no loss', async () => {
    const s = await stuckMove(3, 'cleanup', [null])
    s.asked.length = 0
    const m = await restartAtDrop(s, {dataDirId: 'dir-empty', instance: 'i2'})
    expect(m.phase).toBe('done')
    for (const n of s.others) expect(s.asked).toContain(n)
    expect(m.warnings?.[0]?.text).toContain(`and from ${[...s.others].sort().join(', ')}, which hold every acknowledged write`)
    expect(lossWarnings(m)).toEqual([])
    expect(outcomeOf(m).code).toBeNull()
  })

  it('at rf 3 with a w = 1 router is a loss all the same (a write acknowledged by the source alone lived on the destination alone)', async () => {
    const s = await stuckMove(3, 'cleanup', [null, 1])
    const m = await restartAtDrop(s, {dataDirId: 'dir-empty', instance: 'i2'})
    expect(m.phase).toBe('done')
    expect(outcomeOf(m).code).toBe('POSSIBLE_DATA_LOSS')
  })

  // Until session 39 the commit to `done` after the drop was fenced on nothing of the destination:
  // one that restarted on an empty dir between the run's last look at its claim and that commit
  // (its copy the only one, the source's just dropped) left the move `done` with no word of it.
  it('at rf 1, restarted on another data dir between the last look and the commit to done, fails that commit and is told as a loss', async () => {
    const s = await stuckMove(1, 'cleanup')
    await s.store.put(s.ctx.keys.claim(s.to), JSON.stringify({node: s.to, dataDirId: 'dir-old', instance: 'i1'}))
    await markNodesAlive(s.ctx, [s.from])
    let dropped = false
    let gate: ReturnType<typeof s.store.faults.hold> | undefined
    const running = s.run({
      effects: (base) => ({
        ...base,
        drop: async (node, shard) => {
          const n = await base.drop(node, shard)
          // The next commit of the move after the drop is the one to `done`: held until the destination restarted.
          if (node === s.from && !dropped) {
            dropped = true
            gate = s.store.faults.hold({op: 'txn', key: s.ctx.keys.move(s.move.id)})
          }
          return n
        },
      }),
    })
    while (!gate) await new Promise((r) => setImmediate(r))
    await gate.reached
    await s.store.put(s.ctx.keys.claim(s.to), JSON.stringify({node: s.to, dataDirId: 'dir-empty', instance: 'i2'}))
    gate.release()
    const m = await running
    expect(m.phase).toBe('done')
    expect(m.verifiedDirs?.[s.to]).toBe('dir-empty/i2')
    expect(outcomeOf(m).code).toBe('POSSIBLE_DATA_LOSS')
  })

  // Until session 40's hunt the refill decided with the source down was the ordinary one, which picks its peers itself
  // when it runs: a source up by then was read alone, as a whole copy, though its drop was recorded (sent before it went
  // down); down again at the next look, the move committed that refill, and at rf 1 a destination back on an empty dir
  // ended `done` with every value lost, apply exit 0.
  it('at rf 1, with the source down when the refill is decided, up while it runs and down again after, after the drop was recorded, is still told as a loss', async () => {
    const s = await stuckMove(1, 'cleanup')
    await s.store.put(s.ctx.keys.move(s.move.id), JSON.stringify({...(await stored(s)), sourceDropSentAt: new Date(0).toISOString()}))
    let back = false
    const m = await s.run({
      effects: (base) => ({
        ...base,
        verify: async (...args: Parameters<MoveEffects['verify']>) => {
          // The source registers between the executor's look (down) and the refill's choice of peers.
          if (back) return base.verify(...args)
          back = true
          await markNodesAlive(s.ctx, [s.from])
          try {
            await base.verify(...args)
          } finally {
            // It goes down again right after (a restart loop).
            await s.store.delete(s.ctx.keys.alive(s.from))
          }
        },
      }),
    })
    expect(back).toBe(true)
    // At rf 1 with the source down there is nothing to refill from: the move waits for it (main committed the refill here).
    expect(m.phase).toBe('cleanup')
    expect(m.verifiedDirs?.[s.to]).toBe('dir-old/i1')
    // Back for good: refilled from what remains of its copy, and told.
    await markNodesAlive(s.ctx, [s.from])
    const done = await s.run()
    expect(done.phase).toBe('done')
    expect(lossWarnings(done)).toHaveLength(1)
    expect(outcomeOf(done).code).toBe('POSSIBLE_DATA_LOSS')
  })

  it('on the same data dir (a new process) is told, not counted as a loss', async () => {
    const s = await stuckMove(1, 'cleanup')
    const m = await restartAtDrop(s, {dataDirId: 'dir-old', instance: 'i2'})
    expect(m.phase).toBe('done')
    expect(m.warnings?.[0]?.text).toContain('on the data dir it was verified on')
    expect(outcomeOf(m).code).toBeNull()
  })
})

describe('a destination restarted in cleanup before the source drop was sent (session 40)', () => {
  // Until session 40 the drop was not recorded before it was sent, so any restart in `cleanup` was told as a possible
  // loss: at rf 1 on another dir `apply` exited 23 though the source still held every record and the refill read them.
  /**
   * restartedEnteringCleanup: a move at `rf` in `draining`, the source up and the destination on the dir it was verified
   * on, runs until its commit to `cleanup` lands; that commit's answer is held until the destination restarted on another
   * dir (no drop was sent yet), then the move runs on. Returns it (as the run ends) with the stuck move.
   */
  async function restartedEnteringCleanup(rf: number): Promise<{s: Stuck; m: Move}> {
    const s = await stuckMove(rf, 'draining')
    await s.store.put(s.ctx.keys.claim(s.to), JSON.stringify({node: s.to, dataDirId: 'dir-old', instance: 'i1'}))
    await markNodesAlive(s.ctx, [s.from])
    const gate = s.store.faults.hold({op: 'txn', key: s.ctx.keys.move(s.move.id), when: 'after'})
    const running = s.run()
    await gate.reached
    expect((await stored(s)).phase).toBe('cleanup')
    expect(s.dropped).toEqual([])
    await s.store.put(s.ctx.keys.claim(s.to), JSON.stringify({node: s.to, dataDirId: 'dir-empty', instance: 'i2'}))
    gate.release()
    return {s, m: await running}
  }

  it('at rf 1, restarted on another data dir right after the move entered cleanup, is refilled from the source\'s whole copy and told as no loss', async () => {
    const {s, m} = await restartedEnteringCleanup(1)
    expect(m.phase).toBe('done')
    expect(m.verifiedDirs?.[s.to]).toBe('dir-empty/i2')
    expect(s.asked).toContain(s.from)
    expect(lossWarnings(m)).toEqual([])
    expect(m.warnings ?? []).toEqual([])
    expect(outcomeOf(m).code).toBeNull()
    expect(s.dropped).toEqual([s.from])
  })

  it('at rf 3, restarted on another data dir before the drop, is refilled from the source and from the staying voters up (writes since release are on them, not on the leaving source)', async () => {
    const {s, m} = await restartedEnteringCleanup(3)
    expect(m.phase).toBe('done')
    expect(m.verifiedDirs?.[s.to]).toBe('dir-empty/i2')
    // Until session 40's review the source alone was read: a write acknowledged since release by the destination and one
    // staying voter was left off the refilled destination (a stale read at a quorum of it and the other staying voter).
    for (const n of [s.from, ...s.others]) expect(s.asked).toContain(n)
    expect(lossWarnings(m)).toEqual([])
  })

  it('restarted after the drop was recorded (about to be sent) is still told as a loss at rf 1', async () => {
    const s = await stuckMove(1, 'draining')
    await s.store.put(s.ctx.keys.claim(s.to), JSON.stringify({node: s.to, dataDirId: 'dir-old', instance: 'i1'}))
    await markNodesAlive(s.ctx, [s.from])
    let sent = false
    const m = await s.run({
      effects: (base) => ({
        ...base,
        drop: async (node, shard) => {
          // The drop's record is committed before the request: the destination restarts as it is sent.
          if (!sent && node === s.from) {
            sent = true
            expect((await stored(s)).sourceDropSentAt).toEqual(expect.any(String))
            await s.store.put(s.ctx.keys.claim(s.to), JSON.stringify({node: s.to, dataDirId: 'dir-empty', instance: 'i2'}))
          }
          return base.drop(node, shard)
        },
      }),
    })
    expect(m.phase).toBe('done')
    expect(outcomeOf(m).code).toBe('POSSIBLE_DATA_LOSS')
  })
})

describe('a destination that is down in cleanup before the source drop was sent (session 40 hunt)', () => {
  /** downDestination: `cleanup` with the drop not recorded, the destination down on the claim it was verified under, the source up. */
  async function downDestination(rf: number, routerW: (number | null)[] = []) {
    const s = await stuckMove(rf, 'cleanup', routerW)
    await s.store.put(s.ctx.keys.move(s.move.id), JSON.stringify({...(await stored(s)), sourceDropSentAt: null}))
    await s.store.put(s.ctx.keys.claim(s.to), JSON.stringify({node: s.to, dataDirId: 'dir-old', instance: 'i1'}))
    await s.store.delete(s.ctx.keys.alive(s.to))
    await markNodesAlive(s.ctx, [s.from])
    return s
  }

  // Until session 40's hunt the drop was sent with the destination down: at rf 1 the source's copy, the only other one, was
  // dropped, the move ended `done` (apply exit 0), and a destination that came back on a new disk (its old one dead) held
  // nothing, with no move left to tell it. Waiting keeps the source's whole copy for the refill of such a destination.
  it('at rf 1 keeps the source copy and waits for the destination; back on a new dir it is refilled from the whole copy, no loss', async () => {
    const s = await downDestination(1)
    const waited = await s.run()
    expect(waited.phase).toBe('cleanup')
    expect(s.dropped).toEqual([])
    expect(waited.sourceDropSentAt).toBeNull()
    expect(waited.waitingFor?.text).toContain(`${s.to} is down`)
    await s.store.put(s.ctx.keys.claim(s.to), JSON.stringify({node: s.to, dataDirId: 'dir-empty', instance: 'i2'}))
    await markNodesAlive(s.ctx, [s.to])
    const m = await s.run()
    expect(m.phase).toBe('done')
    expect(s.asked).toContain(s.from)
    expect(s.dropped).toEqual([s.from])
    expect(lossWarnings(m)).toEqual([])
  })

  it('at rf 3 with only majority routers ever does not wait: the staying voters up hold every acknowledged write', async () => {
    const s = await downDestination(3, [null])
    const m = await s.run()
    expect(m.phase).toBe('done')
    expect(s.dropped).toEqual([s.from])
  })
})

describe('a refill after the source drop that waits for a staying voter that is down (session 40)', () => {
  /** downVoterAfterDrop: rf 3 with a w = 1 router, in cleanup after the drop (a record that does not say: counted as sent), the source up, one staying voter down, the destination back under `dir`. */
  async function downVoterAfterDrop(dir: {dataDirId: string; instance: string}) {
    const s = await stuckMove(3, 'cleanup', [null, 1])
    await markNodesAlive(s.ctx, [s.from])
    const down = [...s.others].sort()[0]!
    await s.store.delete(s.ctx.keys.alive(down))
    await s.store.put(s.ctx.keys.claim(s.to), JSON.stringify({node: s.to, ...dir}))
    return {s, down}
  }

  // Until session 40 it waited for ever with nothing but apply's log to say so, and no command ended the wait.
  it('on another data dir waits, says so in moves show and cluster status with the command that ends it, and abandon-voters ends it with a loss warning', async () => {
    const {s, down} = await downVoterAfterDrop({dataDirId: 'dir-empty', instance: 'i2'})
    const waited = await s.run()
    expect(waited.phase).toBe('cleanup')
    expect(waited.waitingFor?.text).toContain(`${down} (down) may hold acknowledged writes it lost`)
    expect(waited.waitingFor?.text).toContain(`shardctl moves abandon-voters ${s.move.id} --accept-data-loss`)
    const status = await clusterStatus(s.ctx)
    expect(status.waitingMoves).toEqual([expect.objectContaining({move: s.move.id, phase: 'cleanup', text: waited.waitingFor!.text})])
    // Without the flag: refused, one line naming it, nothing changed.
    const refused = await requestVotersAbandon(s.ctx, s.move.id, {acceptDataLoss: false}).then(() => undefined, (e: unknown) => e)
    expect(refused).toBeInstanceOf(UserError)
    expect((refused as UserError).code).toBe('BAD_INPUT')
    expect((refused as UserError).message).toContain('--accept-data-loss')
    expect((await stored(s)).abandonVotersRequested).toBeUndefined()
    const marked = await requestVotersAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    expect(marked).toMatchObject({changed: true, voters: [down]})
    expect((await requestVotersAbandon(s.ctx, s.move.id, {acceptDataLoss: true})).changed).toBe(false)
    const m = await s.run()
    expect(m.phase).toBe('done')
    expect(m.abandonVotersRequested).toBeUndefined()
    expect(m.waitingFor).toBeUndefined()
    expect(s.asked).not.toContain(down)
    expect(lossWarnings(m)).toHaveLength(1)
    expect(lossWarnings(m)[0]!.text).toContain(`what only ${down} (down, abandoned by the operator`)
    expect(outcomeOf(m).code).toBe('POSSIBLE_DATA_LOSS')
    expect((await clusterStatus(s.ctx)).waitingMoves).toEqual([])
  })

  it('a voter abandoned that registers before the refill commits fails that commit (fenced on its lease) and is read', async () => {
    const {s, down} = await downVoterAfterDrop({dataDirId: 'dir-empty', instance: 'i2'})
    const m = await abandonVotersThenBackAtVerify(s, down)
    expect(m.phase).toBe('done')
    expect(s.asked).toContain(down)
    expect(m.warnings?.[0]?.text).not.toContain('abandoned by the operator')
  })

  // Until session 40 it waited for the down voter here too, though the destination kept its copy on that dir.
  it('on the same data dir goes on from what is up without waiting, and is told, not counted as a loss', async () => {
    const {s, down} = await downVoterAfterDrop({dataDirId: 'dir-old', instance: 'i2'})
    const m = await s.run()
    expect(m.phase).toBe('done')
    expect(s.asked).not.toContain(down)
    expect(m.warnings?.[0]?.text).toContain('on the data dir it was verified on')
    expect(outcomeOf(m).code).toBeNull()
  })

  it('abandon-voters is refused while nothing waits for voters (no restart, or every staying voter up), changing nothing', async () => {
    const {s} = await downVoterAfterDrop({dataDirId: 'dir-old', instance: 'i1'})
    const e1 = await requestVotersAbandon(s.ctx, s.move.id, {acceptDataLoss: true}).then(() => undefined, (e: unknown) => e)
    expect((e1 as UserError).code).toBe('PRECONDITION')
    await s.store.put(s.ctx.keys.claim(s.to), JSON.stringify({node: s.to, dataDirId: 'dir-empty', instance: 'i2'}))
    await markNodesAlive(s.ctx, s.others)
    const e2 = await requestVotersAbandon(s.ctx, s.move.id, {acceptDataLoss: true}).then(() => undefined, (e: unknown) => e)
    expect((e2 as UserError).code).toBe('PRECONDITION')
    expect(String(e2)).toContain('nothing to abandon')
    expect((await stored(s)).abandonVotersRequested).toBeUndefined()
  })

  // Until session 40's hunt the request was judged on the destination's whole claim alone: a destination restarted before
  // the drop was recorded (refilled from the source's whole copy: no voter waited for), or on the data dir it was verified
  // on (a new process: it kept its copy, nothing waited for), was marked all the same, and the command said the refill
  // would go on without the voters and record a loss. A mark nothing honoured then stayed on the move, to be honoured at a
  // later restart after the drop without anyone judging those voters again.
  it('abandon-voters is refused while no refill waits for voters: the drop not recorded yet, or the destination back on its verified dir, changing nothing', async () => {
    const {s, down} = await downVoterAfterDrop({dataDirId: 'dir-empty', instance: 'i2'})
    await s.store.put(s.ctx.keys.move(s.move.id), JSON.stringify({...(await stored(s)), sourceDropSentAt: null}))
    const e1 = await requestVotersAbandon(s.ctx, s.move.id, {acceptDataLoss: true}).then(() => undefined, (e: unknown) => e)
    expect(e1).toBeInstanceOf(UserError)
    expect((e1 as UserError).code).toBe('PRECONDITION')
    expect(String(e1)).toContain('drop')
    expect((await stored(s)).abandonVotersRequested).toBeUndefined()
    // The executor indeed waits for no voter there: the destination is refilled from the source's whole copy, no loss told.
    const m = await s.run()
    expect(m.phase).toBe('done')
    expect(s.asked).toContain(s.from)
    expect(s.asked).not.toContain(down)
    expect(lossWarnings(m)).toEqual([])

    const same = await downVoterAfterDrop({dataDirId: 'dir-old', instance: 'i2'})
    const e2 = await requestVotersAbandon(same.s.ctx, same.s.move.id, {acceptDataLoss: true}).then(() => undefined, (e: unknown) => e)
    expect(e2).toBeInstanceOf(UserError)
    expect((e2 as UserError).code).toBe('PRECONDITION')
    expect((await stored(same.s)).abandonVotersRequested).toBeUndefined()
  })
})

describe('a source that dies as its drop is sent in cleanup (session 40: checked, nothing lost)', () => {
  it('the unanswered drop is retried, and once its lease is gone the move ends done with its copy left on its disk, the drop recorded', async () => {
    const s = await stuckMove(3, 'draining', [null])
    await s.store.put(s.ctx.keys.claim(s.to), JSON.stringify({node: s.to, dataDirId: 'dir-old', instance: 'i1'}))
    await markNodesAlive(s.ctx, [s.from])
    let tries = 0
    const m = await s.run({
      client: (node, base) =>
        node !== s.from
          ? base
          : ({
              ...base,
              drop: async () => {
                // It died after the executor's look: no answer; its lease lapses on the second try.
                if (++tries === 2) await s.store.delete(s.ctx.keys.alive(s.from))
                throw new NodeRequestError('NODE_UNREACHABLE', `node ${s.from} at 127.0.0.1:1: connection refused`, s.from, 0)
              },
            }) as unknown as NodeClient,
    })
    expect(m.phase).toBe('done')
    expect(tries).toBe(2)
    expect(m.sourceDropSentAt).toEqual(expect.any(String))
    expect(m.warnings ?? []).toEqual([])
    expect(infos(s).some((i) => i.includes(`node ${s.from} is down: its copy of shard ${m.shard} stays on disk`))).toBe(true)
    expect((await readShard(s.ctx, m.shard))!.value.replicas.map((r) => r.node)).not.toContain(s.from)
  })
})

/**
 * Session 40 (huntkeep): before cutover nothing records the source's data dir (verifiedDirs is written at cutover), so
 * `aborting` cannot tell a source back on a replaced, empty dir (served with --accept-empty-data) from one back on its
 * own. Cancelled in `promoting` or `verifying` at w = 1, a write acknowledged by the source and the destination alone
 * (the joint quorum: one of the old set, one of the new) is then on the destination's copy alone: the source's new dir
 * never had it, the other voters never did. The copy was dropped at once because the source held its lease. Now a
 * source whose dir cannot be judged counts as possibly replaced: at the write floor's w = 1 the voters up, the source
 * included, are repaired from the copy before it is dropped; with a majority floor the other voters decide as before.
 */
describe("a destination's copy in aborting with the source up (its data dir not recorded before cutover)", () => {
  it('at w = 1, a source back on a replaced dir does not get the copy dropped until it and the other voters are repaired from it', async () => {
    const s = await keptCopyMove('verifying', 1)
    await s.store.put(s.ctx.keys.claim(s.from), JSON.stringify({node: s.from, dataDirId: 'dir-replaced', instance: 'i9'}))
    await markNodesAlive(s.ctx, [s.from])
    const t = traced(s)
    const m = await s.run(t.opts)
    expect(m.phase).toBe('aborted')
    expect(s.dropped).toEqual([s.to])
    expectRepairedBeforeDrop(t.seen, s.to, [s.from, ...s.others])
  })

  it('at w = 1, a source that refuses nothing but whose dir cannot be judged is repaired too, and a kept copy it cannot read is waited for, not dropped', async () => {
    const s = await keptCopyMove('promoting', 1)
    await markNodesAlive(s.ctx, [s.from])
    const waiting = await s.run({onDigest: async (node) => {
      if (node === s.to) throw new Error(`${node} refuses`)
    }})
    expect(waiting.phase).toBe('aborting')
    expect(s.dropped).toEqual([])
    expect(retries(s).at(-1)).toContain(`${s.to}'s kept copy`)
    const t = traced(s)
    const m = await s.run(t.opts)
    expect(m.phase).toBe('aborted')
    expectRepairedBeforeDrop(t.seen, s.to, [s.from, ...s.others])
  })

  it('with only majority routers ever, is dropped at once with the source up (the other voters hold every acknowledged write)', async () => {
    const s = await keptCopyMove('verifying', null)
    await s.store.put(s.ctx.keys.claim(s.from), JSON.stringify({node: s.from, dataDirId: 'dir-replaced', instance: 'i9'}))
    await markNodesAlive(s.ctx, [s.from])
    const t = traced(s)
    const m = await s.run(t.opts)
    expect(m.phase).toBe('aborted')
    expect(s.dropped).toEqual([s.to])
    expect(t.seen.some((x) => x.startsWith('kept:'))).toBe(false)
  })
})

describe('a recorded wait is cleared when it ends, not when the next step finishes (session 41)', () => {
  // Until session 41 `waitingFor` was cleared only after the step that followed the wait finished: a long refill (or barrier,
  // or copy) run once the node was back left `moves show` and `cluster status` naming a wait that was over.
  it('Given a move in cleanup that waited for its down destination, When the destination is back and its refill runs, Then no wait is recorded while it runs', async () => {
    const s = await stuckMove(1, 'cleanup')
    await s.store.put(s.ctx.keys.move(s.move.id), JSON.stringify({...(await stored(s)), sourceDropSentAt: null}))
    await s.store.put(s.ctx.keys.claim(s.to), JSON.stringify({node: s.to, dataDirId: 'dir-old', instance: 'i1'}))
    await s.store.delete(s.ctx.keys.alive(s.to))
    await markNodesAlive(s.ctx, [s.from])
    const waited = await s.run()
    expect(waited.waitingFor?.text).toContain(`${s.to} is down`)
    await s.store.put(s.ctx.keys.claim(s.to), JSON.stringify({node: s.to, dataDirId: 'dir-empty', instance: 'i2'}))
    await markNodesAlive(s.ctx, [s.to])
    const during: (Move['waitingFor'] | null)[] = []
    const m = await s.run({
      effects: (base) => ({
        ...base,
        verify: async (...args: Parameters<MoveEffects['verify']>) => {
          const now = await stored(s)
          during.push(now.waitingFor ?? null)
          expect((await clusterStatus(s.ctx)).waitingMoves).toEqual([])
          return base.verify(...args)
        },
      }),
    })
    expect(m.phase).toBe('done')
    expect(during.length).toBeGreaterThan(0)
    expect(during).toEqual(during.map(() => null))
  })
})

describe('an abandoned source plus a staying voter that is down, at w = 1 (session 41)', () => {
  /** abandonedWithVoterDown: rf 3 with a w = 1 router, in `phase`, the destination restarted on another dir, the source down and abandoned, one staying voter down (its claim `dir-v/i1`). */
  async function abandonedWithVoterDown(phase: Move['phase']) {
    const s = await stuckMove(3, phase, [null, 1])
    await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    const down = [...s.others].sort()[0]!
    const up = s.others.filter((n) => n !== down)
    await s.store.delete(s.ctx.keys.alive(down))
    await s.store.put(s.ctx.keys.claim(down), JSON.stringify({node: down, dataDirId: 'dir-v', instance: 'i1'}))
    return {s, down, up}
  }

  // Until session 41 it waited for ever: the refill without the source ignored `abandon-voters` (refused outside cleanup,
  // marked but not honoured in it), and its wait did not name that way out.
  it.each(['release', 'cleanup'] as const)('in %s waits naming abandon-voters, which ends the wait with a loss warning naming the source and the voter, fenced on both leases', async (phase) => {
    const {s, down, up} = await abandonedWithVoterDown(phase)
    const waited = await s.run()
    expect(waited.phase).toBe(phase)
    expect(waited.waitingFor?.text).toContain(`${down} (down)`)
    expect(waited.waitingFor?.text).toContain(`shardctl moves abandon-voters ${s.move.id} --accept-data-loss`)
    expect((await clusterStatus(s.ctx)).waitingMoves).toEqual([expect.objectContaining({move: s.move.id, text: waited.waitingFor!.text})])
    const refused = await requestVotersAbandon(s.ctx, s.move.id, {acceptDataLoss: false}).then(() => undefined, (e: unknown) => e)
    expect((refused as UserError).code).toBe('BAD_INPUT')
    const marked = await requestVotersAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    expect(marked).toMatchObject({changed: true, voters: [down]})
    expect((await stored(s)).abandonVotersDirs).toEqual({[down]: 'dir-v/i1'})
    s.asked.length = 0
    const m = await s.run()
    expect(m.phase).toBe('done')
    expect(m.abandonVotersRequested).toBeUndefined()
    expect(m.abandonVotersDirs).toBeUndefined()
    expect(m.waitingFor).toBeUndefined()
    expect(s.asked).not.toContain(down)
    expect(s.asked).not.toContain(s.from)
    for (const n of up) expect(s.asked).toContain(n)
    expect(m.sourceAbandoned?.refilledFrom).toEqual(up)
    expect(lossWarnings(m)).toHaveLength(1)
    expect(lossWarnings(m)[0]!.text).toContain(`only ${s.from}'s copy held are lost, with what only ${down} (down, abandoned by the operator`)
    expect(outcomeOf(m).code).toBe('POSSIBLE_DATA_LOSS')
  })

  it('a voter abandoned that registers before the refill commits fails that commit (fenced on its lease) and is read', async () => {
    const {s, down} = await abandonedWithVoterDown('cleanup')
    const m = await abandonVotersThenBackAtVerify(s, down)
    expect(m.phase).toBe('done')
    expect(s.asked).toContain(down)
    expect(m.abandonVotersRequested).toBeUndefined()
    expect(m.warnings?.map((w) => w.text).join(' ')).not.toContain('abandoned by the operator: moves abandon-voters')
  })
})

describe('an abandon-voters mark is withdrawn, or not honoured, for voters nobody judged gone (session 41)', () => {
  async function markedAfterDrop() {
    const s = await stuckMove(3, 'cleanup', [null, 1])
    await markNodesAlive(s.ctx, [s.from])
    const [down, other] = [...s.others].sort() as [string, string]
    await s.store.delete(s.ctx.keys.alive(down))
    await s.store.put(s.ctx.keys.claim(down), JSON.stringify({node: down, dataDirId: 'dir-v', instance: 'i1'}))
    await s.store.put(s.ctx.keys.claim(s.to), JSON.stringify({node: s.to, dataDirId: 'dir-empty', instance: 'i2'}))
    await requestVotersAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    return {s, down, other}
  }

  // Until session 41 the mark stayed and was honoured whatever came back: a voter back on its data dir before the refill
  // read it only by luck of the lease fence, and the mark outlived it on the move.
  it('Given the abandoned voter back on its data dir before the refill, Then the mark is withdrawn (told) and it is read: no loss counted for it', async () => {
    const {s, down} = await markedAfterDrop()
    await s.store.put(s.ctx.keys.claim(down), JSON.stringify({node: down, dataDirId: 'dir-v', instance: 'i2'}))
    await markNodesAlive(s.ctx, [down])
    const m = await s.run()
    expect(m.phase).toBe('done')
    expect(m.abandonVotersRequested).toBeUndefined()
    expect(infos(s).some((i) => i.includes(`${down} marked abandoned are up again on their data dirs; the mark is withdrawn`))).toBe(true)
    expect(s.asked).toContain(down)
    expect(m.warnings?.map((w) => w.text).join(' ')).not.toContain('abandoned by the operator: moves abandon-voters')
  })

  // A mark names the voters down when it was set: another voter that goes down later was judged gone by nobody.
  it('Given another staying voter down since the mark, Then the refill waits for it (the mark does not cover it) and says so', async () => {
    const {s, down, other} = await markedAfterDrop()
    await s.store.delete(s.ctx.keys.alive(other))
    const m = await s.run()
    expect(m.phase).toBe('cleanup')
    expect(m.abandonVotersRequested).toEqual(expect.any(String))
    expect(m.waitingFor?.text).toContain(`${[down, other].sort().join(', ')} (down)`)
    expect(s.asked).not.toContain(s.to)
  })
})

/**
 * Session 41: the gaps session 40 left open around the destination's kept copy (docs/moves.md, "A destination's copy
 * with the source down"). At w = 1 a write acknowledged by the source and the destination alone (the joint quorum) may
 * be on those two copies and no other voter.
 */
describe("a destination's kept copy: the windows around its drop (session 41)", () => {
  const removeDestination = async (s: Stuck) => {
    const listed = (await readShard(s.ctx, s.move.shard))!.value
    await s.store.put(s.ctx.keys.shard(listed.id), JSON.stringify({...listed, epoch: listed.epoch + 1, replicas: listed.replicas.filter((r) => r.node !== s.to)}))
  }
  const claim = (s: Stuck, node: string, dataDirId: string, instance: string) => s.store.put(s.ctx.keys.claim(node), JSON.stringify({node, dataDirId, instance}))
  /** onDrop wraps `traced`'s client so `then` runs as `node` is asked to drop its range (after the request is on its way). */
  const onDrop = (t: ReturnType<typeof traced>, node: string, then: () => Promise<void>) => ({
    client: (n: string, base: NodeClient) => {
      const c = t.opts.client(n, base)
      return n !== node
        ? c
        : ({
            ...c,
            drop: async (...a: Parameters<NodeClient['drop']>) => {
              const r = await c.drop(...a)
              await then()
              return r
            },
          } as unknown as NodeClient)
    },
  })
  const cancelled = async (s: Stuck, extra: Partial<Move> = {}) => {
    const {cutoverAt: _c, verifiedDirs: _v, ...before} = s.move
    await s.store.put(s.ctx.keys.move(s.move.id), JSON.stringify({...before, cutoverAt: null, cancelRequested: true, ...extra}))
  }

  it('in rb-cutover at w = 1 with the source up on its compared dir, the voters up are repaired from the copy before the drop: the source may die for good right after the look', async () => {
    const s = await stuckMove(3, 'rb-cutover', [], {from: 'voter', to: 'joining'})
    await recordWriteQuorum(s.ctx, {id: 'r-gone', w: 1})
    await claim(s, s.to, 'dir-old', 'i1')
    await markNodesAlive(s.ctx, [s.from])
    const t = traced(s)
    // The source dies for good as the drop is sent (its lease gone): only the voters hold what the copy alone held.
    const m = await s.run(onDrop(t, s.to, () => s.store.delete(s.ctx.keys.alive(s.from)).then(() => undefined)))
    expect(m.phase).toBe('rolledback')
    expect(s.dropped).toEqual([s.to])
    expectRepairedBeforeDrop(t.seen, s.to, [s.from, ...s.others])
    expect(m.keptCopyRepair).toMatchObject({state: 'dropped', voters: [s.from, ...s.others].sort(), copyReplaced: false})
    expect(lossWarnings(m)).toEqual([])
  })

  it('in rb-cutover with only majority routers ever and the source up, drops the copy at once as before (w >= 2 unchanged)', async () => {
    const s = await stuckMove(3, 'rb-cutover', [], {from: 'voter', to: 'joining'})
    await recordWriteQuorum(s.ctx, {id: 'r-majority', w: null})
    await claim(s, s.to, 'dir-old', 'i1')
    await markNodesAlive(s.ctx, [s.from])
    const t = traced(s)
    const m = await s.run(t.opts)
    expect(m.phase).toBe('rolledback')
    expect(t.seen.some((x) => x.startsWith('kept:'))).toBe(false)
    expect(t.seen).toContain(`drop:${s.to}`)
    expect(m.keptCopyRepair).toBeUndefined()
  })

  it('in rb-cutover at w = 1, a destination on another data dir than its copy was compared under at the repair ends with a warning of possible data loss', async () => {
    // stuckMove: the destination serves dir-new/i2, compared under dir-old/i1.
    const s = await stuckMove(3, 'rb-cutover', [], {from: 'voter', to: 'joining'})
    await recordWriteQuorum(s.ctx, {id: 'r-gone', w: 1})
    await removeDestination(s)
    const m = await s.run()
    expect(m.phase).toBe('rolledback')
    expect(lossWarnings(m).map((w) => w.key)).toEqual([`kept-copy:${s.to}:copy:dir-new/i2`])
    expect(m.keptCopyRepair).toMatchObject({state: 'dropped', copyDir: 'dir-old/i1', copyReplaced: true})
    expect(outcomeOf(m).code).toBe('POSSIBLE_DATA_LOSS')
  })

  it('in rb-cutover at w = 1, a destination restarted on the same data dir (a new process) kept its copy: no warning', async () => {
    const s = await stuckMove(3, 'rb-cutover', [], {from: 'voter', to: 'joining'})
    await recordWriteQuorum(s.ctx, {id: 'r-gone', w: 1})
    await removeDestination(s)
    await claim(s, s.to, 'dir-old', 'i5')
    const m = await s.run()
    expect(m.phase).toBe('rolledback')
    expect(m.warnings ?? []).toEqual([])
    expect(m.keptCopyRepair?.copyReplaced).toBe(false)
  })

  it('in aborting at w = 1, a destination back on another data dir than it was promoted under ends with a warning of possible data loss (the repair read an empty copy)', async () => {
    const s = await stuckMove(3, 'verifying', [], {from: 'voter', to: 'joining'})
    await recordWriteQuorum(s.ctx, {id: 'r-gone', w: 1})
    await cancelled(s, {promotedDir: 'dir-old/i1'})
    const m = await s.run()
    expect(m.phase).toBe('aborted')
    expect(s.dropped).toEqual([s.to])
    expect(lossWarnings(m).map((w) => w.key)).toEqual([`kept-copy:${s.to}:copy:dir-new/i2`])
    expect(m.keptCopyRepair).toMatchObject({state: 'dropped', copyDir: 'dir-old/i1', copyReplaced: true})
  })

  it('in aborting at w = 1, a destination on the dir it was promoted under ends without a warning', async () => {
    const s = await stuckMove(3, 'verifying', [], {from: 'voter', to: 'joining'})
    await recordWriteQuorum(s.ctx, {id: 'r-gone', w: 1})
    await cancelled(s, {promotedDir: 'dir-new/i1'})
    const m = await s.run()
    expect(m.phase).toBe('aborted')
    expect(m.warnings ?? []).toEqual([])
  })

  it('every voter repaired restarting on a replaced dir as the drop is sent (after the last look) ends with a warning of possible data loss', async () => {
    const s = await stuckMove(3, 'verifying', [], {from: 'voter', to: 'joining'})
    await recordWriteQuorum(s.ctx, {id: 'r-gone', w: 1})
    await cancelled(s)
    for (const v of s.others) await claim(s, v, `dir-${v}`, 'i1')
    const t = traced(s)
    let restarted = false
    const m = await s.run(onDrop(t, s.to, async () => {
      if (restarted) return
      restarted = true
      for (const v of s.others) await claim(s, v, `dir-replaced-${v}`, 'i8')
    }))
    expect(m.phase).toBe('aborted')
    expect(lossWarnings(m).map((w) => w.key)).toEqual([`kept-copy:${s.to}:voters:dir-new/i2`])
  })

  it('one voter of two restarting on a replaced dir as the drop is sent is no loss: the other holds what the copy gave them', async () => {
    const s = await stuckMove(3, 'verifying', [], {from: 'voter', to: 'joining'})
    await recordWriteQuorum(s.ctx, {id: 'r-gone', w: 1})
    await cancelled(s)
    for (const v of s.others) await claim(s, v, `dir-${v}`, 'i1')
    const t = traced(s)
    const m = await s.run(onDrop(t, s.to, () => claim(s, s.others[0]!, 'dir-replaced', 'i8').then(() => undefined)))
    expect(m.phase).toBe('aborted')
    expect(m.warnings ?? []).toEqual([])
  })

  /**
   * settledFirst wraps the destination's client: a write acknowledged by the source and the destination at the epoch before
   * the destination's removal may still be committing behind its storage writer (let in at that epoch, before the node
   * learnt of the removal); it is in the destination's copy only once the node was asked to accept an epoch at or past
   * `removedAt` (a node's accept waits for every write it let in at an older epoch: nodeHttpApi.ts accept, fencedWrites.ts).
   * `early` lists each read of the kept copy made before that.
   */
  const settledFirst = (s: Stuck, removedAt: () => number) => {
    let settled = false
    const early: string[] = []
    return {
      early,
      opts: {
        client: (n: string, base: NodeClient) =>
          n !== s.to
            ? base
            : ({
                ...base,
                accept: async (shard: number, epoch: number, ...rest: unknown[]) => {
                  if (epoch >= removedAt()) settled = true
                  return (base.accept as (...a: unknown[]) => Promise<unknown>)(shard, epoch, ...rest)
                },
                digest: async (...a: Parameters<NodeClient['digest']>) => {
                  if (a[2]?.keptFor === s.move.id && !settled) early.push(`kept digest at epoch ${a[1]}`)
                  return base.digest(...a)
                },
              }) as unknown as NodeClient,
      },
    }
  }

  it('in rb-cutover at w = 1 with the source up, the kept copy is read only once the destination settled the writes it let in before its removal (one acked by the source and it alone, landing after the look, would be on the source alone once the copy is dropped)', async () => {
    const s = await stuckMove(3, 'rb-cutover', [], {from: 'voter', to: 'joining'})
    await recordWriteQuorum(s.ctx, {id: 'r-gone', w: 1})
    await claim(s, s.to, 'dir-old', 'i1')
    await markNodesAlive(s.ctx, [s.from])
    await removeDestination(s)
    const removed = (await readShard(s.ctx, s.move.shard))!.value.epoch
    const d = settledFirst(s, () => removed)
    const m = await s.run(d.opts)
    expect(m.phase).toBe('rolledback')
    expect(s.dropped).toEqual([s.to])
    expect(d.early).toEqual([])
  })

  it('a repair recorded at w = 1 whose copy is no longer kept (the floor adopted as majority since) ends with its record marked dropped, not about to be', async () => {
    const s = await stuckMove(3, 'rb-cutover', [], {from: 'voter', to: 'joining'})
    await recordWriteQuorum(s.ctx, {id: 'r-majority', w: null})
    await claim(s, s.to, 'dir-old', 'i1')
    await markNodesAlive(s.ctx, [s.from])
    await removeDestination(s)
    const repaired = {state: 'repaired' as const, at: new Date(0).toISOString(), voters: [s.from, ...s.others].sort(), records: 2, dirs: {[s.to]: 'dir-old/i1'}, copyDir: 'dir-old/i1', copyReplaced: false}
    await s.store.put(s.ctx.keys.move(s.move.id), JSON.stringify({...(await stored(s)), keptCopyRepair: repaired}))
    const m = await s.run()
    expect(m.phase).toBe('rolledback')
    expect(s.dropped).toEqual([s.to])
    expect(m.keptCopyRepair).toEqual({...repaired, state: 'dropped'})
    expect(keptCopyRepairText(m)).toContain('copy dropped')
  })

  it('a repair recorded as reading a replaced copy still ends with its loss warning when the destination is removed (node remove) before the drop', async () => {
    const s = await stuckMove(3, 'rb-cutover', [], {from: 'voter', to: 'joining'})
    await recordWriteQuorum(s.ctx, {id: 'r-gone', w: 1})
    await markNodesAlive(s.ctx, [s.from])
    await removeDestination(s)
    const repaired = {state: 'repaired' as const, at: new Date(0).toISOString(), voters: [s.from, ...s.others].sort(), records: 0, dirs: {[s.to]: 'dir-new/i2'}, copyDir: 'dir-old/i1', copyReplaced: true}
    await s.store.put(s.ctx.keys.move(s.move.id), JSON.stringify({...(await stored(s)), keptCopyRepair: repaired}))
    await removeNode(s.ctx, s.to)
    const m = await s.run()
    expect(m.phase).toBe('rolledback')
    expect(lossWarnings(m).map((w) => w.key)).toEqual([`kept-copy:${s.to}:copy:dir-new/i2`])
    expect(m.keptCopyRepair?.state).toBe('dropped')
  })

  it('in aborting at w = 1 with the source up, the kept copy is read only once the destination settled the writes it let in before its removal', async () => {
    const s = await stuckMove(3, 'verifying', [], {from: 'voter', to: 'joining'})
    await recordWriteQuorum(s.ctx, {id: 'r-gone', w: 1})
    await cancelled(s, {promotedDir: 'dir-new/i2'})
    await markNodesAlive(s.ctx, [s.from])
    const before = (await readShard(s.ctx, s.move.shard))!.value.epoch
    const d = settledFirst(s, () => before + 1)
    const m = await s.run(d.opts)
    expect(m.phase).toBe('aborted')
    expect(s.dropped).toEqual([s.to])
    expect(d.early).toEqual([])
  })
})

describe('the promotion after a copy records the destination\'s claim (session 41)', () => {
  it('the copy commits promoting itself; the runner reads the claims for that first observation, so the promotion records promotedDir', async () => {
    const s = await stuckMove(3, 'copying', [], {from: 'voter', to: 'learning'})
    const {cutoverAt: _c, verifiedDirs: _v, ...before} = s.move
    await s.store.put(s.ctx.keys.move(s.move.id), JSON.stringify({...before, cutoverAt: null}))
    const m = await s.run({effects: (base) => ({...base, copy: async (env, fm) => commitMoveTransition(env.ctx, env.fence, fm, {phase: 'promoting'})})})
    expect(m.promotedDir).toBe('dir-new/i2')
  })
})

describe('huntwaits: a wait a step failed into stays recorded, with its since, while that step is retried (session 41)', () => {
  // moveRunner.ts clears `waitingFor` before a step other than the one whose failure caused it (runEffect): a refill that
  // fails into a wait for a down voter, retried, must not clear and record it again each time (its `since` would restart).
  it('Given a refill without the abandoned source waiting for a staying voter down, When it is retried, Then waitingFor keeps the since of its first record and is never cleared in between', async () => {
    const s = await stuckMove(3, 'cleanup', [null, 1])
    await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    const down = [...s.others].sort()[0]!
    await s.store.delete(s.ctx.keys.alive(down))
    const seen: (Move['waitingFor'] | null)[] = []
    const m = await s.run({
      effects: (base) => ({
        ...base,
        verify: async (...args: Parameters<MoveEffects['verify']>) => {
          seen.push((await stored(s)).waitingFor ?? null)
          return base.verify(...args)
        },
      }),
    })
    expect(m.phase).toBe('cleanup')
    expect(m.waitingFor?.text).toContain(`${down} (down)`)
    // The first try ran before any wait; every retry after it sees the wait of the first failure, unchanged.
    expect(seen.length).toBeGreaterThan(3)
    expect(seen.slice(1)).toEqual(seen.slice(1).map(() => m.waitingFor))
  })

  // Session 42: a restarted executor re-runs the refill (its done set starts empty), which cleared the recorded wait before
  // it and recorded it again at its failure, with a new since: `moves show` and the TUI's "waiting for X since" restarted.
  it('Given the same wait recorded, When the executor restarts (a new run) and the refill fails the same way, Then waitingFor keeps the since recorded before the restart', async () => {
    const s = await stuckMove(3, 'cleanup', [null, 1])
    await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    const down = [...s.others].sort()[0]!
    await s.store.delete(s.ctx.keys.alive(down))
    const first = await s.run()
    expect(first.waitingFor?.text).toContain(`${down} (down)`)
    const second = await s.run()
    expect(second.phase).toBe('cleanup')
    expect(second.waitingFor).toEqual(first.waitingFor)
  })
})

describe('huntwaits: the abandoned source coming back does not withdraw the loss of the voters abandoned with it (session 41)', () => {
  // A refill without the abandoned source that honoured `moves abandon-voters` records one warning naming both the source
  // and the voters (sourceAbandonedWarning). The source back on its verified dir before its drop gives back only what its
  // copy held: a write acknowledged at w = 1 by an abandoned staying voter alone since `release` (the source takes no
  // writes from then on) is on that voter alone, so the possible loss the warning told of stands.
  it('Given the refill went on without the source and a staying voter (both marked), When the source is back on its dir before its drop, Then the move still ends with a possible-loss warning naming the voter', async () => {
    const s = await stuckMove(3, 'release', [null, 1])
    await requestSourceAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    const down = [...s.others].sort()[0]!
    await s.store.delete(s.ctx.keys.alive(down))
    await s.store.put(s.ctx.keys.claim(down), JSON.stringify({node: down, dataDirId: 'dir-v', instance: 'i1'}))
    await requestVotersAbandon(s.ctx, s.move.id, {acceptDataLoss: true})
    let back = false
    const m = await s.run({
      effects: (base) => ({
        ...base,
        drain: async (...args: Parameters<MoveEffects['drain']>) => {
          if (!back) {
            back = true
            await markNodesAlive(s.ctx, [s.from])
          }
          return base.drain(...args)
        },
      }),
    })
    expect(back).toBe(true)
    expect(m.phase).toBe('done')
    expect(m.sourceAbandoned?.sourceRefillAt).toEqual(expect.any(String))
    expect(lossWarnings(m).map((w) => w.text).join(' ')).toContain(down)
    expect(outcomeOf(m).code).toBe('POSSIBLE_DATA_LOSS')
    expect(m.sourceAbandoned?.abandonedVoters).toEqual([down])
    expect(sourceAbandonText(m)).toContain(`records only ${down} (staying voters abandoned with it) held are lost`)
  })
})
