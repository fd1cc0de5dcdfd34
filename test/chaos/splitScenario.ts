import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setNodeState} from '../../src/cluster/nodeService.js'
import {readSnapshot} from '../../src/cluster/snapshotService.js'
import {keyHash} from '../../src/model/hash.js'
import {isTerminal, type Move} from '../../src/model/move.js'
import {type HashRange, rangeContains} from '../../src/model/range.js'
import {type Shard} from '../../src/model/shard.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {applySplit} from '../../src/executor/splitShard.js'
import {sealPlan} from '../../src/model/plan.js'
import {type ChaosEnv} from './chaosEnv.js'
import {type Deadline} from './deadline.js'
import {type ChaosHistory} from './history.js'
import {FaultMissed, type Scenario} from './scenarios.js'
import {splitDrainPlan, type SplitPlanResult, type SplitTarget} from './splitPlan.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** WORKERS and KEYS_PER_WORKER: the recorded workload's keys (`w<w>-k<i>`), about 4 per shard of 24, so every split part holds some. */
const WORKERS = 4
const KEYS_PER_WORKER = 24
/** LEASE_TTL_MS: the chaos nodes' and routers' etcd lease TTL (`--lease-ttl 3`). */
const LEASE_TTL_MS = 3000
/** KINDS: the split shapes, one per split shard, in order: a second split of each half, then a plain one. */
const KINDS: SplitTarget['kind'][] = ['upper-again', 'lower-again', 'once']

/** workloadHashes lists the sorted hashes of the workload's keys that fall in `range`. */
function workloadHashes(range: HashRange): number[] {
  const out: number[] = []
  for (let w = 0; w < WORKERS; w++) for (let i = 0; i < KEYS_PER_WORKER; i++) {
    const h = keyHash(`w${w}-k${i}`)
    if (rangeContains(range, h)) out.push(h)
  }
  return [...new Set(out)].sort((a, b) => a - b)
}

/**
 * cutsFor picks `kind`'s split points in `range` between workload keys, so every part holds
 * some (at a fraction of the range where there are too few keys).
 */
export function cutsFor(range: HashRange, kind: SplitTarget['kind']): number[] {
  const hs = workloadHashes(range)
  const at = (f: number) => {
    const i = Math.floor(hs.length * f)
    const h = hs.length >= 3 && i >= 1 ? hs[i]! : undefined
    return h !== undefined && h > range.lo ? h : range.lo + Math.floor((range.hi - range.lo) * f)
  }
  if (kind === 'once') return [at(1 / 2)]
  if (kind === 'lower-again') return [at(2 / 3), at(1 / 3)]
  return [at(1 / 3), at(2 / 3)]
}

/**
 * chooseSplits picks the node to freeze (not n5, a voter of the most of n5's shards) and up
 * to three of n5's shards that it also holds, those with the most workload keys first.
 */
function chooseSplits(shards: readonly Shard[], drained: ReadonlySet<number>): {frozen: string; targets: SplitTarget[]} {
  const onN5 = shards.filter((s) => drained.has(s.id))
  const count = new Map<string, number>()
  for (const s of onN5) for (const r of s.replicas) if (r.node !== 'n5') count.set(r.node, (count.get(r.node) ?? 0) + 1)
  const frozen = [...count.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]![0]
  const picked = onN5
    .filter((s) => s.replicas.some((r) => r.node === frozen))
    .sort((a, b) => workloadHashes(b.range).length - workloadHashes(a.range).length || a.id - b.id)
    .slice(0, KINDS.length)
  return {frozen, targets: picked.map((s, i) => ({shard: s.id, kind: KINDS[i]!, cuts: cutsFor(s.range, KINDS[i]!)}))}
}

/** keyGone polls (bounded) until `key` is gone from etcd: the lease it was written under lapsed. */
async function keyGone(env: ChaosEnv, key: string, timeoutMs: number): Promise<boolean> {
  const by = Date.now() + timeoutMs
  while (Date.now() < by) {
    if ((await env.dp.ctx.store.get(key).catch(() => 'unknown' as const)) === undefined) return true
    await sleep(200)
  }
  return false
}

/** SplitSetup is a prepared split plan: the plan file, the parts, the node to freeze and the report line. */
interface SplitSetup {
  result: SplitPlanResult
  frozen: string
  dir: string
  file: string
  /** planId is the id of the plan in `file` (the moves-only plan has its own). */
  planId: string
  note: string
}

/**
 * prepareSplitPlan marks n5 draining, plans its drain from the live snapshot and turns it
 * into the split plan (see {@link splitDrainPlan}); with `movesOnly` the file holds the same
 * plan without its splits (the scenario applies them itself). The caller removes `dir` once
 * the executor has read the file.
 */
async function prepareSplitPlan(env: ChaosEnv, movesOnly: boolean): Promise<SplitSetup> {
  const ctx = env.dp.ctx
  await setNodeState(ctx, 'n5', 'draining')
  const snapshot = await readSnapshot(ctx)
  const now = new Date()
  const drain = planRebalance(snapshot, {drainOnly: true}, {id: `drain-n5-${now.getTime()}`, createdAt: now.toISOString()})
  const drained = new Set(drain.actions.flatMap((a) => (a.kind === 'move' ? [a.shard] : [])))
  const choice = chooseSplits(snapshot.shards, drained)
  const result = splitDrainPlan(drain, snapshot.shards, snapshot.cluster.nextShardId, choice.targets)
  const dir = mkdtempSync(join(tmpdir(), 'chaos-split-'))
  const file = join(dir, 'plan.json')
  const {hash: _hash, signature: _signature, ...body} = result.plan
  const plan = movesOnly ? sealPlan({...body, id: `${body.id}-moves`, actions: body.actions.filter((a) => a.kind === 'move')}) : result.plan
  writeFileSync(file, JSON.stringify(plan))
  const note = `plan: ${choice.targets.map((t) => `split ${t.shard} ${t.kind} at ${t.cuts.join(',')}`).join('; ')}; parts ${result.parts.map((p) => `${p.shard}@${p.epoch}(${workloadHashes(p.range).length} keys)`).join(' ')}; ${result.plan.actions.length} actions`
  return {result, frozen: choice.frozen, dir, file, planId: plan.id, note}
}

/** APPLY_FLAGS: the split plan's executor flags: every part's move may start at once; copies slow enough that a fault finds them running. */
const APPLY_FLAGS = ['--yes', '--max-concurrent', '6', '--per-node', '6', '--incoming-per-node', '6', '--throttle', '48KiB/s', '--chunk-size', '4KiB', '--drain-timeout', '3s']

/** partMovesProblems lists the problems with the moves of `result`'s parts: one each, all done. */
async function partMovesProblems(env: ChaosEnv, result: SplitPlanResult, planId: string): Promise<string[]> {
  const moves = await env.moves()
  const partMoves = moves.filter((m) => m.plan === planId && result.parts.some((p) => p.shard === m.shard))
  const notDone = partMoves.filter((m) => m.phase !== 'done')
  return [...(partMoves.length === result.parts.length ? [] : [`${partMoves.length} moves of the ${result.parts.length} split parts were recorded`]), ...(notDone.length > 0 ? [`moves of split parts not done: ${notDone.map((m) => `${m.shard}:${m.phase}`).join(' ')}`] : [])]
}

/** createdOpsAfter: the operations acknowledged on keys of the created halves invoked after `at`, and those through `router`. */
function createdOpsAfter(history: ChaosHistory, result: SplitPlanResult, at: number, router: string): {all: number; writes: number; viaRouter: number} {
  const createdRanges = result.parts.filter((p) => p.created).map((p) => p.range)
  const ops = history.ops.filter((o) => o.outcome === 'ok' && o.invoke >= at && createdRanges.some((r) => rangeContains(r, keyHash(o.key))))
  return {all: ops.length, writes: ops.filter((o) => o.kind === 'write').length, viaRouter: ops.filter((o) => o.router === router).length}
}

/**
 * splitsUnderMoves: shards split while the moves of their halves run, with a router and a
 * replica frozen across it. Instead of the suite's drain, it plans the drain of n5 itself and
 * turns it into a plan that first splits three of n5's shards (one split's upper half split
 * again, one's lower half split again: a second split before any node can have seen the
 * first) and then moves every part off n5, the new ids' moves first, so they start the moment
 * the splits commit (a move of an upper half before a node learned it exists). Right before
 * the executor starts, router r1 and a node holding all those shards are SIGSTOPped, with the
 * old map; they stay stopped until their leases lapsed (so the joining barriers of the halves'
 * moves skip them) and a created half's move is copying, then SIGCONT while the moves run.
 * Each operation goes to a router drawn at random, so r1 serves again after the SIGCONT.
 * With `restart` the frozen node is SIGKILLed instead of continued and restarted on its data.
 */
export function splitsUnderMoves(opts: {restart?: boolean} = {}): Scenario {
  let setup: SplitSetup | undefined
  let contAt = 0
  let lapsed = {node: false, router: false}
  let copyingWhileFrozen: Move | undefined
  return {
    name: opts.restart ? 'splits under moves: router SIGSTOP past lease + replica SIGKILLed while frozen, restarted on its data' : 'splits under moves: router + replica SIGSTOP past lease across the split',
    short: false,
    ownsMoves: true,
    workload: {keysPerWorker: KEYS_PER_WORKER, routerPerOp: true},
    async inject(env: ChaosEnv, deadline: Deadline) {
      await sleep(1000)
      const ctx = env.dp.ctx
      setup = await prepareSplitPlan(env, false)
      const {result, frozen, file} = setup
      const notes = [setup.note]
      // Freeze r1 and the replica with the old map, then apply: splits commit at once, the halves' moves start right after.
      const router = env.dp.routers[0]!
      const node = env.dp.nodes[frozen]!
      router.signal('SIGSTOP')
      node.signal('SIGSTOP')
      const stoppedAt = Date.now()
      try {
        env.startExecutor(['apply', file, ...APPLY_FLAGS])
        const created = result.parts.filter((p) => p.created).map((p) => p.shard)
        const cap = 60_000
        const budget = deadline.budget(cap)
        const [nodeGone, routerGone] = await Promise.all([keyGone(env, ctx.keys.alive(frozen), budget), keyGone(env, ctx.keys.router('r1'), budget)])
        lapsed = {node: nodeGone, router: routerGone}
        copyingWhileFrozen = await env.waitForMove((m) => created.includes(m.shard) && ((m.phase === 'copying' && m.progress.bytes > 0) || ['promoting', 'verifying', 'cutover', 'release'].includes(m.phase)), deadline.budget(cap))
        const seen = (await env.moves().catch(() => [])).map((m) => `${m.shard}:${m.phase}`).join(' ')
        if (!copyingWhileFrozen) throw new FaultMissed(`no move of a created half got past joining while r1 and ${frozen} were frozen (moves: ${seen}; executor: ${env.executors.at(-1)?.stderr().slice(-300)})`)
        notes.push(`SIGSTOP r1 and ${frozen} (a voter of every split shard) before the splits; leases lapsed: node ${nodeGone}, router ${routerGone}; shard ${copyingWhileFrozen.shard} (created by a split) was ${copyingWhileFrozen.phase} ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s in; moves then: ${seen}`)
        // Keep them frozen a little longer under the moves, at least 2 TTL in all.
        await sleep(Math.max(1000, stoppedAt + 2 * LEASE_TTL_MS - Date.now()))
      } finally {
        router.signal('SIGCONT')
        if (opts.restart) await node.kill()
        else node.signal('SIGCONT')
        contAt = Date.now()
      }
      if (opts.restart) {
        // Restarted on its data: it lists the map afresh, holding writes it took before the freeze and none since.
        await env.dp.startNode(frozen)
        notes.push(`SIGCONT r1 and SIGKILL ${frozen} after ${((contAt - stoppedAt) / 1000).toFixed(1)} s; ${frozen} restarted and serving ${((Date.now() - contAt) / 1000).toFixed(1)} s later`)
      } else notes.push(`SIGCONT after ${((contAt - stoppedAt) / 1000).toFixed(1)} s`)
      // The rest of the moves run with both back; the harness waits for the executor to finish.
      return notes
    },
    async proveLanded(env: ChaosEnv, history: ChaosHistory) {
      if (!setup) return {problems: ['no split plan was made'], note: ''}
      // The plan file stays until here: a slow executor start must still find it.
      rmSync(setup.dir, {recursive: true, force: true})
      const {result, frozen} = setup
      const problems: string[] = []
      const out = env.executors.map((e) => e.stdout()).join('\n')
      const done = (out.match(/split shard \d+ at \d+: done/g) ?? []).length
      const splits = result.plan.actions.filter((a) => a.kind === 'split').length
      if (done !== splits) problems.push(`${done} of ${splits} splits reported done`)
      if (!lapsed.node) problems.push(`${frozen}'s lease never lapsed while it was stopped`)
      if (!lapsed.router) problems.push(`r1's lease never lapsed while it was stopped`)
      if (!copyingWhileFrozen) problems.push('no created half was copying while r1 and the replica were frozen')
      problems.push(...(await partMovesProblems(env, result, setup.planId)))
      const ops = createdOpsAfter(history, result, contAt, env.dp.routers[0]!.address)
      if (ops.writes === 0) problems.push('no write to a created half was acknowledged after the SIGCONT')
      if (ops.viaRouter === 0) problems.push('r1 acknowledged no operation on a created half after the SIGCONT')
      const moves = await env.moves()
      return {problems, note: `${done}/${splits} splits done; ${ops.all} ok ops on created halves after SIGCONT (${ops.viaRouter} via r1); ${moves.filter((m) => isTerminal(m.phase)).length}/${moves.length} moves ended`}
    },
  }
}

/** FREEZE_MS / THAW_MS: the flapping freeze's cycle, well inside the 3 s lease (its keepalives run in the thaws). */
const FREEZE_MS = 1200
const THAW_MS = 800

/**
 * splitsUnderFlappingFreezes: the splits commit while router r1 and a voter of every split
 * shard are SIGSTOPped, but under their leases: they stay registered, so every barrier of
 * the parts' moves must wait for them, and they come back to requests and watch events
 * queued behind each other (a node answers an accept or a write for a shard it has not heard
 * of, or with the parent's old range). The scenario applies the splits itself (applySplit,
 * fenced on no executor holding the lock, as `apply` does under it) while both are frozen,
 * starts the moves of every part at once, and keeps freezing both 1.2 s of every 2 s until
 * every created half's move left joining (or 60 s). Proves: both frozen at the split commit,
 * a created half's move seen joining during a freeze with both leases held.
 */
export function splitsUnderFlappingFreezes(): Scenario {
  let setup: SplitSetup | undefined
  let firstThaw = 0
  const joiningFrozen: string[] = []
  const lapses: string[] = []
  const splitOutcomes: string[] = []
  return {
    name: 'splits under moves: router + replica SIGSTOP flapping under the lease across the split',
    short: false,
    ownsMoves: true,
    workload: {keysPerWorker: KEYS_PER_WORKER, routerPerOp: true},
    async inject(env: ChaosEnv, deadline: Deadline) {
      await sleep(1000)
      const ctx = env.dp.ctx
      setup = await prepareSplitPlan(env, true)
      const {result, frozen, file} = setup
      const notes = [setup.note]
      const router = env.dp.routers[0]!
      const node = env.dp.nodes[frozen]!
      const created = new Set(result.parts.filter((p) => p.created).map((p) => p.shard))
      const freeze = () => {
        router.signal('SIGSTOP')
        node.signal('SIGSTOP')
      }
      const thaw = () => {
        node.signal('SIGCONT')
        router.signal('SIGCONT')
      }
      const leasesHeld = async (): Promise<string[]> => {
        const [a, r] = await Promise.all([ctx.store.get(ctx.keys.alive(frozen)).catch(() => null), ctx.store.get(ctx.keys.router('r1')).catch(() => null)])
        return [...(a === undefined ? [`${frozen}'s alive key`] : []), ...(r === undefined ? ['r1\'s registration'] : [])]
      }
      freeze()
      const stoppedAt = Date.now()
      try {
        for (const a of result.plan.actions) {
          if (a.kind !== 'split') continue
          const r = await applySplit(ctx, {key: ctx.keys.executorLock, createRevision: 0n}, a)
          splitOutcomes.push(`${a.shard}->${a.parts[1].shard}:${r.status}`)
        }
        env.startExecutor(['apply', file, ...APPLY_FLAGS])
        await sleep(Math.max(0, stoppedAt + FREEZE_MS - Date.now()))
        lapses.push(...(await leasesHeld()))
        thaw()
        firstThaw = Date.now()
        notes.push(`splits ${splitOutcomes.join(' ')} committed with r1 and ${frozen} SIGSTOPped (thawed ${((firstThaw - stoppedAt) / 1000).toFixed(1)} s later); the parts' moves started right after`)
        const by = Date.now() + deadline.budget(60_000)
        let cycles = 0
        while (Date.now() < by) {
          await sleep(THAW_MS)
          const moves = (await env.moves().catch(() => [] as Move[])).filter((m) => m.plan === setup!.planId && created.has(m.shard))
          // Since the destination learns during the copy (session 28), `joining` is a moment: the
          // barriers the frozen router and replica must pass run there (E+1) and in `promoting`
          // (E+2), so the freezes go on through the copy until each part is past both.
          const open = moves.filter((m) => ['pending', 'checked', 'joining', 'copying', 'promoting'].includes(m.phase))
          if (cycles > 0 && moves.length === created.size && open.length === 0) break
          freeze()
          cycles++
          const until = Date.now() + FREEZE_MS
          while (Date.now() < until) {
            for (const m of await env.moves().catch(() => [] as Move[])) if (created.has(m.shard) && (m.phase === 'joining' || m.phase === 'promoting') && !joiningFrozen.includes(`${m.shard}`)) joiningFrozen.push(`${m.shard}`)
            await sleep(100)
          }
          lapses.push(...(await leasesHeld()))
          thaw()
        }
        const recorded = (await env.moves().catch(() => [] as Move[])).filter((m) => m.plan === setup!.planId).length
        if (recorded === 0) throw new FaultMissed(`the executor recorded no move of plan ${setup.planId} within the freezes (exit ${await Promise.race([env.executors.at(-1)!.exited, sleep(10).then(() => 'running')])}: ${env.executors.at(-1)!.stderr().slice(-400)})`)
        notes.push(`${cycles} more freeze(s) of ${FREEZE_MS} ms every ${FREEZE_MS + THAW_MS} ms; created halves seen joining or promoting (a barrier) while frozen: ${joiningFrozen.join(',') || 'none'}; leases lost meanwhile: ${lapses.join(', ') || 'none'}`)
      } finally {
        thaw()
      }
      return notes
    },
    async proveLanded(env: ChaosEnv, history: ChaosHistory) {
      if (!setup) return {problems: ['no split plan was made'], note: ''}
      // The plan file stays until here: a slow executor start must still find it.
      rmSync(setup.dir, {recursive: true, force: true})
      const {result} = setup
      const problems: string[] = []
      const splits = result.plan.actions.filter((a) => a.kind === 'split').length
      const done = splitOutcomes.filter((o) => o.endsWith(':done')).length
      if (done !== splits) problems.push(`${done} of ${splits} splits done while frozen (${splitOutcomes.join(' ')})`)
      if (joiningFrozen.length === 0) problems.push('no created half was seen joining or promoting (a barrier) while r1 and the replica were frozen')
      if (lapses.length > 0) problems.push(`a lease lapsed during the flapping freezes (${lapses.join(', ')}): the barriers skipped instead of waiting`)
      const moves = await env.moves()
      problems.push(...(await partMovesProblems(env, result, setup.planId)))
      const ops = createdOpsAfter(history, result, firstThaw, env.dp.routers[0]!.address)
      if (ops.writes === 0) problems.push('no write to a created half was acknowledged after the first thaw')
      if (ops.viaRouter === 0) problems.push('r1 acknowledged no operation on a created half after the first thaw')
      return {problems, note: `${done}/${splits} splits done while frozen; ${ops.all} ok ops on created halves after the first thaw (${ops.viaRouter} via r1); ${moves.filter((m) => isTerminal(m.phase)).length}/${moves.length} moves ended`}
    },
  }
}
