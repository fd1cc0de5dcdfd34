import {getMeta, getNode, listShards} from '../cluster/clusterRepo.js'
import {engineOf} from '../model/cluster.js'
import {refuseEngineOnlyOptions} from './engineMoveRunner.js'
import {isTerminal} from '../model/move.js'
import {setNodeState} from '../cluster/nodeService.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {readSnapshot} from '../cluster/snapshotService.js'
import {UserError} from '../errors/errors.js'
import {parseLockHolder} from '../etcd/leaseLock.js'
import {type Plan} from '../model/plan.js'
import {type Shard} from '../model/shard.js'
import {planRebalance} from '../planner/planRebalance.js'
import {type ApplyDeps, type ApplyInput, executePlan, type ApplyResult} from './executePlan.js'
import {listMoves} from './moveStore.js'

/** DrainResult is what `node drain` reports. */
export interface DrainResult {
  node: string
  plan: Plan | null
  result: ApplyResult | null
  /** remaining is how many replicas the node still holds after the run (0 = drained). */
  remaining: number
  message: string
}

/**
 * drainNode empties a node: marks it draining (so no plan places anything on it and the
 * planner moves everything off), computes a drain-only plan from the live snapshot and
 * runs it like `apply`. Draining an empty node reports "already drained". Throws
 * UNREACHABLE_TARGET when the planner cannot place every replica elsewhere (the message
 * names the shard and why), NOT_FOUND for an unknown node. When nothing started (the
 * confirmation was declined or threw, the plan cannot place every replica, the lock is
 * held, the run was stopped before it recorded anything) the node's state is put back as it
 * was, so a refused or stopped drain changes nothing.
 */
export async function drainNode(ctx: ServiceContext, id: string, input: Omit<ApplyInput, 'plan'>, deps: ApplyDeps, signal: AbortSignal): Promise<DrainResult> {
  const before = (await getNode(ctx, id)).value.state
  // Before the node is marked draining: a refusal changes nothing.
  await refuseEngineOnlyOptions(ctx, input.redis)
  await setNodeState(ctx, id, 'draining')
  let confirmed = false
  // Best effort: the error that stopped the drain matters more than a failed restore.
  const restore = () => (before === 'draining' ? Promise.resolve() : setNodeState(ctx, id, before).then(() => undefined, () => undefined))
  let result: ApplyResult
  let plan: Plan
  try {
    const snapshot = await readSnapshot(ctx)
    const held = snapshot.shards.filter((s) => s.replicas.some((r) => r.node === id)).length
    if (held === 0) return {node: id, plan: null, result: null, remaining: 0, message: `node ${id} was already drained (it holds no replicas)`}
    plan = planRebalance(snapshot, {drainOnly: true}, {id: `drain-${id}-${new Date(deps.now()).toISOString().replace(/[-:.]/g, '').slice(0, 15)}`, createdAt: new Date(deps.now()).toISOString()})
    const moves = plan.actions.filter((a) => a.kind === 'move' && a.from === id).length
    if (moves < held) await refuseIfMidMove(ctx, id, snapshot.shards, plan, before)
    if (moves < held) throw new UserError('UNREACHABLE_TARGET', `node ${id} cannot be fully drained: the plan moves ${moves} of its ${held} replicas (${plan.summary.stopDetail})`, `add capacity or nodes in other zones, or relax placement constraints; node ${id} stays ${before}`)
    result = await executePlan(ctx, {...input, plan, confirm: async (p) => (confirmed = await input.confirm(p))}, deps, signal)
  } catch (err) {
    if (!confirmed) await restore()
    throw err
  }
  // Stopped (Ctrl-C) before it split, recorded or started anything: nothing started, as when
  // declined, so the node is put back too (else it stays draining, and the autopilot, which
  // empties draining nodes, would finish the drain the operator stopped).
  const stoppedUnstarted = confirmed && result.stopped && result.moves.length === 0 && result.splits.length === 0
  if (!confirmed || stoppedUnstarted) await restore()
  // Counted from the shard records, not a snapshot: a redis-engine snapshot refuses a cluster
  // with a move stopped part-way (some slots already on the target), which is exactly when the
  // count matters.
  const left = (await listShards(ctx)).shards.filter((s) => s.value.replicas.some((r) => r.node === id)).length
  const redis = engineOf((await getMeta(ctx)).value) === 'redis'
  const drained = redis ? `node ${id} is drained: the master serves no slot and stays a master (\`redis-cli --cluster del-node\` takes it out of the Redis cluster)` : `node ${id} is drained: it holds no replicas; \`shardctl node remove ${id}\` can delete it`
  const message = left === 0 ? drained : stoppedUnstarted ? `node ${id}: the drain was stopped before it recorded or started any move; node ${id} is ${before} again (rerun \`shardctl node drain ${id}\` to drain it)` : notDrained(id, left, redis, result)
  return {node: id, plan, result, remaining: left, message}
}

/**
 * refuseIfMidMove throws PRECONDITION when a replica the drain plan leaves on node `id` is
 * in an unfinished move (an interrupted drain's or apply's): the planner leaves shards mid-move
 * to a later plan and apply would skip them, so no rerun of the drain moves them; what does is
 * finishing (or cancelling) that move. Without this the drain blamed capacity.
 */
async function refuseIfMidMove(ctx: ServiceContext, id: string, shards: readonly Shard[], plan: Plan, before: string): Promise<void> {
  const planned = new Set(plan.actions.flatMap((a) => (a.kind === 'move' && a.from === id ? [a.shard] : [])))
  // The shards the plan was made from: the drain read them a moment ago.
  const left = new Set(shards.filter((s) => !planned.has(s.id) && s.replicas.some((r) => r.node === id)).map((s) => s.id))
  const stuck = (await listMoves(ctx)).map((m) => m.value).filter((m) => !isTerminal(m.phase) && left.has(m.shard))
  const first = stuck[0]
  if (!first) return
  const cancel = `cancel them with \`shardctl moves cancel ${first.id}\``
  // A running executor holds the lock: `apply --resume` would be refused (LOCK_HELD); that executor finishes them.
  const running = await runningExecutor(ctx)
  const finish = running ? `they may be the moves ${running} runs (it holds the executor lock, so \`apply --resume\` would be refused): wait for it to end (\`shardctl moves list\` shows their progress), then run \`shardctl apply --resume\` if any is left unfinished (or ${cancel})` : `finish them with \`shardctl apply --resume\` (or ${cancel})`
  throw new UserError('PRECONDITION', `node ${id} cannot be drained yet: ${stuck.length} of its shard(s) are in unfinished moves (first: move ${first.id} of shard ${first.shard}, ${first.phase}), which a new drain plan leaves alone`, `${finish}, then rerun \`shardctl node drain ${id}\`; node ${id} stays ${before}`)
}

/** runningExecutor names the holder of the executor lock (pid and host when readable); undefined when none holds it. */
async function runningExecutor(ctx: ServiceContext): Promise<string | undefined> {
  const lock = await ctx.store.get(ctx.keys.executorLock)
  if (!lock) return undefined
  const h = parseLockHolder(lock.value)
  return h ? `${h.holder} (pid ${h.pid} on ${h.host})` : 'another executor'
}

/**
 * notDrained says why a node still holds data after a drain run and what finishes it: an
 * interrupted run leaves moves only `apply --resume` continues; a run that ended with moves
 * aborted, failed or skipped leaves nothing to resume (resume would report "nothing to
 * resume"), so only a new drain, planned afresh, moves the rest.
 */
function notDrained(id: string, left: number, redis: boolean, result: ApplyResult): string {
  const held = `node ${id} still holds ${left} ${redis ? 'shard(s)' : 'replica(s)'}`
  // Not "or rerun the drain": a new plan leaves shards mid-move alone (see refuseIfMidMove).
  if (result.moves.some((m) => !isTerminal(m.phase))) return `${held}; finish with \`shardctl apply --resume\``
  const notMoved = Object.entries(result.counts)
    .filter(([phase, n]) => phase !== 'done' && (n ?? 0) > 0)
    .map(([phase, n]) => `${n} ${phase}`)
    .join(', ')
  // The node stays draining (so an autopilot would go on emptying it): say how to give up the drain as well.
  return `${held}${notMoved ? ` (moves ${notMoved}: see \`shardctl moves list\`)` : ''} and stays draining; rerun \`shardctl node drain ${id}\` to plan them again, or \`shardctl node uncordon ${id}\` to abandon the drain`
}
