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

/** aliveGone polls (bounded) until `key` is gone from etcd: the lease it was written under lapsed. */
async function keyGone(env: ChaosEnv, key: string, timeoutMs: number): Promise<boolean> {
  const by = Date.now() + timeoutMs
  while (Date.now() < by) {
    if ((await env.dp.ctx.store.get(key).catch(() => 'unknown' as const)) === undefined) return true
    await sleep(200)
  }
  return false
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
 */
export function splitsUnderMoves(): Scenario {
  let result: SplitPlanResult | undefined
  let frozen = ''
  let contAt = 0
  let lapsed = {node: false, router: false}
  let copyingWhileFrozen: Move | undefined
  return {
    name: 'splits under moves: router + replica SIGSTOP past lease across the split',
    short: false,
    ownsMoves: true,
    workload: {keysPerWorker: KEYS_PER_WORKER, routerPerOp: true},
    async inject(env: ChaosEnv, deadline: Deadline) {
      const notes: string[] = []
      await sleep(1000)
      const ctx = env.dp.ctx
      await setNodeState(ctx, 'n5', 'draining')
      const snapshot = await readSnapshot(ctx)
      const now = new Date()
      const drain = planRebalance(snapshot, {drainOnly: true}, {id: `drain-n5-${now.getTime()}`, createdAt: now.toISOString()})
      const drained = new Set(drain.actions.flatMap((a) => (a.kind === 'move' ? [a.shard] : [])))
      const choice = chooseSplits(snapshot.shards, drained)
      frozen = choice.frozen
      result = splitDrainPlan(drain, snapshot.shards, snapshot.cluster.nextShardId, choice.targets)
      const dir = mkdtempSync(join(tmpdir(), 'chaos-split-'))
      const file = join(dir, 'plan.json')
      writeFileSync(file, JSON.stringify(result.plan))
      notes.push(`plan: ${choice.targets.map((t) => `split ${t.shard} ${t.kind} at ${t.cuts.join(',')}`).join('; ')}; parts ${result.parts.map((p) => `${p.shard}@${p.epoch}(${workloadHashes(p.range).length} keys)`).join(' ')}; ${result.plan.actions.length} actions`)
      // Freeze r1 and the replica with the old map, then apply: splits commit at once, the halves' moves start right after.
      const router = env.dp.routers[0]!
      const node = env.dp.nodes[frozen]!
      router.signal('SIGSTOP')
      node.signal('SIGSTOP')
      const stoppedAt = Date.now()
      try {
        env.startExecutor(['apply', file, '--yes', '--max-concurrent', '6', '--per-node', '6', '--incoming-per-node', '6', '--throttle', '48KiB/s', '--chunk-size', '4KiB', '--drain-timeout', '3s'])
        const created = result.parts.filter((p) => p.created).map((p) => p.shard)
        const cap = 60_000
        const budget = deadline.budget(cap)
        const [nodeGone, routerGone] = await Promise.all([keyGone(env, ctx.keys.alive(frozen), budget), keyGone(env, ctx.keys.router('r1'), budget)])
        lapsed = {node: nodeGone, router: routerGone}
        copyingWhileFrozen = await env.waitForMove((m) => created.includes(m.shard) && ((m.phase === 'copying' && m.progress.bytes > 0) || ['verifying', 'cutover', 'release'].includes(m.phase)), deadline.budget(cap))
        const seen = (await env.moves().catch(() => [])).map((m) => `${m.shard}:${m.phase}`).join(' ')
        if (!copyingWhileFrozen) throw new FaultMissed(`no move of a created half got past joining while r1 and ${frozen} were frozen (moves: ${seen}; executor: ${env.executors.at(-1)?.stderr().slice(-300)})`)
        notes.push(`SIGSTOP r1 and ${frozen} (a voter of every split shard) before the splits; leases lapsed: node ${nodeGone}, router ${routerGone}; shard ${copyingWhileFrozen.shard} (created by a split) was ${copyingWhileFrozen.phase} ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s in; moves then: ${seen}`)
        // Keep them frozen a little longer under the moves, at least 2 TTL in all.
        await sleep(Math.max(1000, stoppedAt + 2 * LEASE_TTL_MS - Date.now()))
      } finally {
        node.signal('SIGCONT')
        router.signal('SIGCONT')
        contAt = Date.now()
        rmSync(dir, {recursive: true, force: true})
      }
      notes.push(`SIGCONT after ${((contAt - stoppedAt) / 1000).toFixed(1)} s`)
      // The rest of the moves run with both back; the harness waits for the executor to finish.
      return notes
    },
    async proveLanded(env: ChaosEnv, history: ChaosHistory) {
      const problems: string[] = []
      if (!result) return {problems: ['no split plan was made'], note: ''}
      const out = env.executors.map((e) => e.stdout()).join('\n')
      const done = (out.match(/split shard \d+ at \d+: done/g) ?? []).length
      const splits = result.plan.actions.filter((a) => a.kind === 'split').length
      if (done !== splits) problems.push(`${done} of ${splits} splits reported done`)
      if (!lapsed.node) problems.push(`${frozen}'s lease never lapsed while it was stopped`)
      if (!lapsed.router) problems.push(`r1's lease never lapsed while it was stopped`)
      if (!copyingWhileFrozen) problems.push('no created half was copying while r1 and the replica were frozen')
      const moves = await env.moves()
      const partMoves = moves.filter((m) => m.plan === result!.plan.id && result!.parts.some((p) => p.shard === m.shard))
      const notDone = partMoves.filter((m) => m.phase !== 'done')
      if (partMoves.length !== result.parts.length) problems.push(`${partMoves.length} moves of the ${result.parts.length} split parts were recorded`)
      if (notDone.length > 0) problems.push(`moves of split parts not done: ${notDone.map((m) => `${m.shard}:${m.phase}`).join(' ')}`)
      // Client operations on keys of the created halves, acknowledged after the SIGCONT, some through r1.
      const createdRanges = result.parts.filter((p) => p.created).map((p) => p.range)
      const inCreated = (k: string) => createdRanges.some((r) => rangeContains(r, keyHash(k)))
      const after = history.ops.filter((o) => o.outcome === 'ok' && o.invoke >= contAt && inCreated(o.key))
      const viaR1 = after.filter((o) => o.router === env.dp.routers[0]!.address)
      if (after.filter((o) => o.kind === 'write').length === 0) problems.push('no write to a created half was acknowledged after the SIGCONT')
      if (viaR1.length === 0) problems.push('r1 acknowledged no operation on a created half after the SIGCONT')
      const terminal = moves.filter((m) => isTerminal(m.phase)).length
      return {problems, note: `${done}/${splits} splits done; ${after.length} ok ops on created halves after SIGCONT (${viaR1.length} via r1); ${terminal}/${moves.length} moves ended`}
    },
  }
}
