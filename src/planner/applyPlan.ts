import {UserError} from '../errors/errors.js'
import {EPOCH_STEPS, type Plan, type PlanAction} from '../model/plan.js'
import {type ClusterSnapshot, shardMapFingerprint} from '../model/snapshot.js'

/**
 * applyPlan returns the snapshot the plan predicts: every action applied in order, as the
 * executor would when nothing else changes (a move swaps the replica's node and carries its
 * load along, raising the epoch by {@link EPOCH_STEPS}.move; a split cuts the shard's
 * range, and each replica's reads and writes by the action's `loadBelow` (half by default), its
 * bytes and keys in half). Pure; `snapshot` is not modified.
 *
 * Throws UserError CONFLICT naming the action when it does not fit the state it meets
 * (unknown shard, epoch differs, `from` holds no replica or `to` already holds one).
 */
export function applyPlan(snapshot: ClusterSnapshot, plan: Pick<Plan, 'actions'>): ClusterSnapshot {
  const shards = new Map(snapshot.shards.map((s) => [s.id, {...s, range: {...s.range}, replicas: s.replicas.map((r) => ({...r}))}]))
  const loadByShard = new Map<number, ClusterSnapshot['load']>()
  for (const l of snapshot.load) {
    const list = loadByShard.get(l.shard) ?? []
    list.push({...l})
    loadByShard.set(l.shard, list)
  }
  let nextShardId = snapshot.cluster.nextShardId
  plan.actions.forEach((action, i) => {
    const shard = shards.get(action.shard)
    const where = `action ${i + 1} (${action.kind} of shard ${action.shard})`
    if (!shard) throw new UserError('CONFLICT', `${where}: no such shard`)
    if (shard.epoch !== action.epoch) throw new UserError('CONFLICT', `${where}: shard is at epoch ${shard.epoch}, the plan expects ${action.epoch}`)
    if (action.kind === 'move') applyMove(shard, action, where)
    else {
      const [left, right] = action.parts
      if (shards.has(right.shard)) throw new UserError('CONFLICT', `${where}: shard ${right.shard} already exists`)
      shard.range = {...left.range}
      shard.epoch = left.epoch
      shards.set(right.shard, {id: right.shard, range: {...right.range}, epoch: right.epoch, replicas: shard.replicas.map((r) => ({...r}))})
      nextShardId = Math.max(nextShardId, right.shard + 1)
      const own = loadByShard.get(action.shard) ?? []
      const below = action.loadBelow ?? 0.5
      loadByShard.set(action.shard, own.map((l) => part(l, action.shard, below, left.range)))
      loadByShard.set(right.shard, own.map((l) => part(l, right.shard, 1 - below, right.range)))
    }
  })

  function applyMove(shard: ClusterSnapshot['shards'][number], action: Extract<PlanAction, {kind: 'move'}>, where: string): void {
    const replica = shard.replicas.find((r) => r.node === action.from)
    if (!replica) throw new UserError('CONFLICT', `${where}: node ${action.from} holds no replica of it`)
    if (shard.replicas.some((r) => r.node === action.to)) throw new UserError('CONFLICT', `${where}: node ${action.to} already holds a replica of it`)
    replica.node = action.to
    shard.epoch += EPOCH_STEPS.move
    for (const l of loadByShard.get(action.shard) ?? []) if (l.node === action.from) l.node = action.to
  }

  const shardList = [...shards.values()].sort((a, b) => a.id - b.id)
  return {
    ...snapshot,
    cluster: {...snapshot.cluster, nextShardId},
    fingerprint: shardMapFingerprint(shardList),
    shards: shardList,
    load: [...loadByShard.keys()].sort((a, b) => a - b).flatMap((id) => loadByShard.get(id)!),
  }
}

/** part is one piece's share of a replica's load after a split: `share` of reads and writes, half the bytes and keys, the key samples in its range. */
function part(l: ClusterSnapshot['load'][number], shard: number, share: number, range: {lo: number; hi: number}): ClusterSnapshot['load'][number] {
  const out: ClusterSnapshot['load'][number] = {node: l.node, shard, reads: l.reads * share, writes: l.writes * share, bytes: l.bytes / 2, keys: l.keys / 2}
  const sample = l.keySample?.filter((h) => h >= range.lo && h < range.hi)
  if (sample && sample.length > 0) out.keySample = sample
  return out
}
