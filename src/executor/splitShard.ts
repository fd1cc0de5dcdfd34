import {type ServiceContext} from '../cluster/serviceContext.js'
import {shardWritePuts} from '../cluster/shardCensus.js'
import {UserError} from '../errors/errors.js'
import {type Compare} from '../etcd/etcdStore.js'
import {type ClusterMeta, ClusterMetaSchema} from '../model/cluster.js'
import {type SplitAction} from '../model/plan.js'
import {type Shard, ShardSchema} from '../model/shard.js'

/** SplitOutcome says what applying a split action did. */
export type SplitOutcome = {status: 'done' | 'already-done'} | {status: 'skipped'; reason: string}

/**
 * decideSplit (pure) checks a split action against the shard and meta as they are now:
 * `apply` with the two new shards and meta, `already-done` when a previous run applied
 * it, or `skipped` with the reason the plan no longer fits (stale).
 */
export function decideSplit(action: SplitAction, shard: Shard | undefined, upper: Shard | undefined, meta: ClusterMeta): {kind: 'apply'; lower: Shard; upper: Shard; meta: ClusterMeta} | {kind: 'already-done'} | {kind: 'skipped'; reason: string} {
  const [, hi] = action.parts
  if (splitMade(action, (id) => (id === action.shard ? shard : id === hi.shard ? upper : undefined))) return {kind: 'already-done'}
  if (!shard) return {kind: 'skipped', reason: `shard ${action.shard} no longer exists`}
  if (shard.epoch !== action.epoch) return {kind: 'skipped', reason: `shard ${action.shard} changed since the plan (epoch ${shard.epoch}, plan expected ${action.epoch})`}
  if (shard.replicas.some((r) => r.role !== 'voter')) return {kind: 'skipped', reason: `shard ${action.shard} is in the middle of a move`}
  if (upper || meta.nextShardId !== hi.shard) return {kind: 'skipped', reason: `shard id ${hi.shard} is no longer the next free id (next is ${meta.nextShardId})`}
  if (!(action.at > shard.range.lo && action.at < shard.range.hi)) return {kind: 'skipped', reason: `split point ${action.at} is not inside shard ${action.shard}'s range`}
  return {
    kind: 'apply',
    lower: {...shard, range: {lo: shard.range.lo, hi: action.at}, epoch: shard.epoch + 1},
    upper: {id: hi.shard, range: {lo: action.at, hi: shard.range.hi}, epoch: shard.epoch + 1, replicas: shard.replicas},
    meta: {...meta, nextShardId: meta.nextShardId + 1},
  }
}

/**
 * splitMade (pure) tells whether the shards `get` returns show `action` made: each part's id
 * holds a shard that starts where the part starts, ends no later and is at its epoch or newer
 * (a later split of a part keeps its id for the lower piece; a move raises the epoch). Only
 * this split makes the new id start at its cut, so nothing else looks like it.
 */
export function splitMade(action: SplitAction, get: (id: number) => Shard | undefined): boolean {
  return action.parts.every((p) => {
    const s = get(p.shard)
    return s !== undefined && s.range.lo === p.range.lo && s.range.hi <= p.range.hi && s.epoch >= p.epoch
  })
}

/**
 * applySplit performs a split action as one fenced transaction: the lower half keeps the
 * shard id, the upper half is created with the next shard id, both at epoch + 1 with the
 * same replicas; meta's nextShardId advances. No data moves: nodes keep rows by hash, so
 * each half is a range of what they hold. Idempotent (a repeated split reports already-done).
 */
export async function applySplit(ctx: ServiceContext, fence: Compare, action: SplitAction): Promise<SplitOutcome> {
  const [shard, upper, meta] = await Promise.all([ctx.store.getTyped(ctx.keys.shard(action.shard), ShardSchema), ctx.store.getTyped(ctx.keys.shard(action.parts[1].shard), ShardSchema), ctx.store.getTyped(ctx.keys.meta, ClusterMetaSchema)])
  if (!meta) throw new UserError('NOT_FOUND', `cluster "${ctx.cluster}" does not exist`)
  const d = decideSplit(action, shard?.value, upper?.value, meta.value)
  if (d.kind === 'already-done') return {status: 'already-done'}
  if (d.kind === 'skipped') return {status: 'skipped', reason: d.reason}
  const rev = await ctx.store.commit({
    compares: [fence, {key: ctx.keys.shard(action.shard), modRevision: shard!.modRevision}, {key: ctx.keys.shard(d.upper.id), createRevision: 0n}, {key: ctx.keys.meta, modRevision: meta.modRevision}],
    puts: [...shardWritePuts(ctx, [{before: shard!.value, after: d.lower}, {before: undefined, after: d.upper}]), {key: ctx.keys.meta, value: JSON.stringify(d.meta)}],
  })
  if (rev === undefined) throw new UserError('CONFLICT', `shard ${action.shard} or the cluster meta changed while splitting`, 'the executor re-reads and retries')
  return {status: 'done'}
}
