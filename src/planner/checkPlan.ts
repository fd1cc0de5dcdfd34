import {EPOCH_STEPS, type Plan} from '../model/plan.js'
import {type ClusterSnapshot} from '../model/snapshot.js'
import {closedDestination} from '../model/closedDestination.js'

/** ActionCheck says whether one plan action can still run against the current cluster, and if not why. */
export interface ActionCheck {
  index: number
  kind: 'move' | 'split'
  shard: number
  valid: boolean
  reason?: string
}

/**
 * checkPlanActions replays `plan`'s actions against `current` (the cluster now) the way the
 * executor's `checked` phase would: an action is valid when its shard exists at the epoch the
 * plan expects, the move's source still holds a replica and its target holds none (and is
 * still a node, neither cordoned nor draining: closedDestination.ts). Valid actions are applied before checking the next; once an action of a
 * shard is stale, later actions of that shard are stale too. Pure.
 */
export function checkPlanActions(current: ClusterSnapshot, plan: Pick<Plan, 'actions'>): ActionCheck[] {
  const shards = new Map(current.shards.map((s) => [s.id, {epoch: s.epoch, nodes: s.replicas.map((r) => r.node)}]))
  const nodes = new Map(current.nodes.map((n) => [n.id, n.state]))
  const stale = new Set<number>()
  return plan.actions.map((a, index) => {
    const result = (reason?: string): ActionCheck => {
      if (reason) stale.add(a.shard)
      return {index, kind: a.kind, shard: a.shard, valid: reason === undefined, ...(reason ? {reason} : {})}
    }
    if (stale.has(a.shard)) return result('an earlier action on this shard is stale')
    const shard = shards.get(a.shard)
    if (!shard) return result('the shard no longer exists')
    if (shard.epoch !== a.epoch) return result(`the shard is at epoch ${shard.epoch}, the plan expects ${a.epoch}`)
    if (a.kind === 'move') {
      if (!shard.nodes.includes(a.from)) return result(`node ${a.from} no longer holds a replica`)
      if (shard.nodes.includes(a.to)) return result(`node ${a.to} already holds a replica`)
      if (!nodes.has(a.to)) return result(`node ${a.to} is no longer in the cluster`)
      const closed = closedDestination(a.to, nodes.get(a.to))
      if (closed) return result(closed)
      shard.nodes = shard.nodes.map((n) => (n === a.from ? a.to : n))
      shard.epoch += EPOCH_STEPS.move
      return result()
    }
    const right = a.parts[1]
    if (shards.has(right.shard)) return result(`shard ${right.shard}, which the split would create, already exists`)
    shard.epoch = a.parts[0].epoch
    shards.set(right.shard, {epoch: right.epoch, nodes: [...shard.nodes]})
    return result()
  })
}
