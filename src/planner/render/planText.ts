import {type Plan, type PlanAction, type PlanNode, shortStopOf} from '../../model/plan.js'
import {formatBytes} from '../../model/units.js'
import {bandBounds, ratioText} from '../ratioText.js'
import {utilisationBar} from './utilisationBar.js'

/** RenderLimits: how many nodes and actions a human rendering lists before summarising the rest. */
export interface RenderLimits {
  nodes?: number
  actions?: number
}

const BAR_WIDTH = 24

/** imbalanceLine is the one-line headline: imbalance before -> after against target and ring baseline. */
export function imbalanceLine(plan: Plan): string {
  const s = plan.summary
  const ring = s.baseline ? `; ring baseline: ${ratioText(s.baseline.imbalanceAfter, [s.target])}x with ${s.baseline.moves} moves, ${formatBytes(s.baseline.bytesToMove)}` : ''
  return `imbalance ${ratioText(s.imbalanceBefore, [s.target])}x -> ${ratioText(s.imbalanceAfter, [s.target])}x the mean (target ${s.target}x)${ring}`
}

/**
 * listedNodes picks the nodes a rendering shows: all when they fit `limit`, else the
 * `limit` that change most (largest |after - before| utilisation, ties by id).
 */
export function listedNodes(nodes: readonly PlanNode[], limit: number): PlanNode[] {
  if (nodes.length <= limit) return [...nodes]
  return [...nodes].sort((a, b) => Math.abs(b.after.utilisation - b.before.utilisation) - Math.abs(a.after.utilisation - a.before.utilisation) || (a.id < b.id ? -1 : 1)).slice(0, limit)
}

/**
 * describeAction is one action as one line: `move shard 17 (epoch 3) n1 -> n4, 64.0 MiB: balance (reads): ...`.
 * `band` (the plan's {@link bandBounds}) gives the predicted utilisations the digits that tell
 * them apart from a band edge (1.1004x, not 1.10x, beside a 1.1x target).
 */
export function describeAction(a: PlanAction, band: readonly number[] = []): string {
  if (a.kind === 'split') return `split shard ${a.shard} (epoch ${a.epoch}) at ${a.at} -> shards ${a.parts[0].shard} + ${a.parts[1].shard}: ${a.reason.detail}`
  const why = a.reason.resource ? `${a.reason.kind} (${a.reason.resource})` : a.reason.kind
  return `move shard ${a.shard} (epoch ${a.epoch}) ${a.from} -> ${a.to}, ${formatBytes(a.bytes)}: ${why}: ${a.reason.detail} [after: ${a.from} ${ratioText(a.predicted.source, band)}x, ${a.to} ${ratioText(a.predicted.target, band)}x]`
}

/**
 * renderPlanText renders a plan for a terminal: the verdict, imbalance before/after beside
 * the ring baseline, data to move, why it stopped, per-node utilisation before and after
 * as horizontal bars (`│` marks the target), and the first actions. Pure. `alerts` are lines
 * about the plan that are not in the plan file (`plan` names other plans' unfinished moves
 * it conflicts with): shown under the status line, where a reader looks first.
 */
export function renderPlanText(plan: Plan, limits: RenderLimits = {}, alerts: readonly string[] = []): string {
  const s = plan.summary
  const nodeLimit = limits.nodes ?? 40
  const actionLimit = limits.actions ?? 20
  const out: string[] = []
  out.push(`Plan ${plan.id} for cluster "${plan.cluster}" (${plan.options.strategy}; from revision ${plan.createdFrom.revision}, shard map ${plan.createdFrom.fingerprint.slice(0, 12)})`)
  const short = shortStopOf(s)
  out.push(`  status     ${s.status}${short === null ? '' : ` (this plan stops short of the target: ${short})`}`)
  for (const line of alerts) out.push(`  ${line}`)
  out.push(`  ${imbalanceLine(plan)}`)
  out.push(`  moves      ${s.moves} (${formatBytes(s.bytesToMove)}, ${Math.round(s.keysToMove)} keys); splits ${s.splits}`)
  out.push(`  load moved ${s.loadMoved.toFixed(2)} average nodes (at least ${s.loadOutsideTarget.toFixed(2)} needed)`)
  out.push(`  stopped    ${s.stopReason}: ${s.stopDetail}`)
  for (const h of s.hotShards) out.push(`  hot shard  ${h.shard} on ${h.node}: ${ratioText(h.load, [s.target])}x an average node (${h.resource})${h.split ? ', split' : ''}`)
  for (const u of s.unplaceable ?? []) out.push(`  unplaceable ${u.shard === null ? `node ${u.node}` : `shard ${u.shard} on ${u.node}`}: ${u.shard === null ? u.reason : `shard ${u.shard} ${u.reason}`}`)
  out.push('')
  const shown = listedNodes(plan.nodes, nodeLimit)
  const scale = Math.max(s.target * 1.25, ...shown.map((n) => Math.max(n.before.utilisation, n.after.utilisation)))
  const idWidth = Math.max(4, ...shown.map((n) => n.id.length))
  const zoneWidth = Math.max(4, ...shown.map((n) => n.zone.length))
  out.push(`  ${'NODE'.padEnd(idWidth)}  ${'ZONE'.padEnd(zoneWidth)}  ${'STATE'.padEnd(9)}  ${'BEFORE'.padEnd(BAR_WIDTH + 7)}  AFTER`)
  // A node just off a band edge gets the digits that show it (1.001x, not 1.00x, beside a 1.00..1.00x band).
  const band = bandBounds(s.target)
  for (const n of shown) {
    const state = n.alive ? n.state : 'down'
    const before = `${utilisationBar(n.before.utilisation, scale, BAR_WIDTH, s.target)} ${ratioText(n.before.utilisation, band)}x`
    const after = `${utilisationBar(n.after.utilisation, scale, BAR_WIDTH, s.target)} ${ratioText(n.after.utilisation, band)}x`
    out.push(`  ${n.id.padEnd(idWidth)}  ${n.zone.padEnd(zoneWidth)}  ${state.padEnd(9)}  ${before.padEnd(BAR_WIDTH + 7)}  ${after}`)
  }
  if (shown.length < plan.nodes.length) out.push(`  ... ${plan.nodes.length - shown.length} more nodes change less (--format json lists all)`)
  if (plan.actions.length > 0) {
    out.push('')
    out.push(`  Actions (${plan.actions.length}):`)
    plan.actions.slice(0, actionLimit).forEach((a, i) => out.push(`  ${String(i + 1).padStart(4)}. ${describeAction(a, bandBounds(s.target))}`))
    if (plan.actions.length > actionLimit) out.push(`        ... ${plan.actions.length - actionLimit} more (--format json lists all)`)
  }
  return out.join('\n')
}
