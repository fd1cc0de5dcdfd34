import {type Plan, shortStopOf} from '../../model/plan.js'
import {formatBytes} from '../../model/units.js'
import {bandBounds, ratioText} from '../ratioText.js'
import {describeAction, listedNodes} from './planText.js'
import {utilisationBar} from './utilisationBar.js'

const VERDICT: Record<Plan['summary']['status'], string> = {
  balanced: 'Balanced: nothing to do',
  'needs-rebalance': 'Rebalance needed: this plan reaches the target',
  unreachable: 'Target unreachable with this plan',
}

/**
 * verdictOf is the summary's bold first line, from the plan's status. An `unreachable` plan
 * that stopped by the operator's choice ({@link shortStopOf}: a ring plan, `--max-moves`,
 * `--max-bytes`, `--drain-only`) says it stops short and where it ends, rather than that the
 * target is out of reach.
 */
function verdictOf(s: Plan['summary']): string {
  if (shortStopOf(s) === null) return VERDICT[s.status]
  return `Target not reached: this plan stops short of it (${ratioText(s.imbalanceAfter, [s.target])}x the mean after, stopped: ${s.stopReason})`
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|')
}

/**
 * renderPlanMarkdown renders a PR-ready summary: the verdict, a before/after/ring-baseline
 * table, why the planner stopped, and collapsible per-node bars and actions. Pure.
 * `alerts` are markdown lines about the plan that are not in the plan file (`plan` names
 * other plans' unfinished moves it conflicts with): shown right under the verdict.
 */
export function renderPlanMarkdown(plan: Plan, limits: {nodes?: number; actions?: number} = {}, alerts: readonly string[] = []): string {
  const s = plan.summary
  const b = s.baseline
  const out: string[] = []
  out.push(`### shardctl plan \`${plan.id}\` for \`${plan.cluster}\``)
  out.push('')
  out.push(`**${verdictOf(s)}** (${plan.options.strategy} strategy, target ${s.target}x the mean)`)
  out.push('')
  if (alerts.length > 0) out.push(...alerts, '')
  out.push('| | before | after | ring baseline |')
  out.push('|---|---:|---:|---:|')
  out.push(`| max utilisation (x mean) | ${ratioText(s.imbalanceBefore, [s.target])} | ${ratioText(s.imbalanceAfter, [s.target])} | ${b ? ratioText(b.imbalanceAfter, [s.target]) : 'n/a'} |`)
  out.push(`| moves | | ${s.moves} | ${b ? b.moves : 'n/a'} |`)
  out.push(`| data to move | | ${formatBytes(s.bytesToMove)} | ${b ? formatBytes(b.bytesToMove) : 'n/a'} |`)
  out.push(`| load moved (average nodes) | | ${s.loadMoved.toFixed(2)} | ${b ? b.loadMoved.toFixed(2) : 'n/a'} |`)
  out.push(`| splits | | ${s.splits} | |`)
  out.push('')
  out.push(`Stopped: \`${s.stopReason}\`: ${cell(s.stopDetail)}`)
  for (const h of s.hotShards) out.push(`\n> Hot shard ${h.shard} on \`${h.node}\`: ${ratioText(h.load, [s.target])}x an average node (${h.resource})${h.split ? ', split by this plan' : ''}`)
  for (const u of s.unplaceable ?? []) out.push(`\n> **Unplaceable** ${u.shard === null ? `node \`${u.node}\`: ${u.reason}` : `shard ${u.shard} on \`${u.node}\`: shard ${u.shard} ${u.reason}`}`)
  out.push('')
  const nodes = listedNodes(plan.nodes, limits.nodes ?? 50)
  const scale = Math.max(s.target * 1.25, ...nodes.map((n) => Math.max(n.before.utilisation, n.after.utilisation)))
  out.push(`<details><summary>Per-node utilisation (${nodes.length} of ${plan.nodes.length} nodes)</summary>`)
  out.push('')
  out.push('| node | zone | state | before | | after | |')
  out.push('|---|---|---|---|---:|---|---:|')
  // As in the text table: a node just off a band edge gets the digits that show it (1.1004, not 1.10, beside a 1.1x target).
  const band = bandBounds(s.target)
  for (const n of nodes) {
    out.push(`| \`${n.id}\` | ${cell(n.zone)} | ${n.alive ? n.state : 'down'} | \`${utilisationBar(n.before.utilisation, scale, 16)}\` | ${ratioText(n.before.utilisation, band)} | \`${utilisationBar(n.after.utilisation, scale, 16)}\` | ${ratioText(n.after.utilisation, band)} |`)
  }
  out.push('')
  out.push('</details>')
  if (plan.actions.length > 0) {
    const shown = plan.actions.slice(0, limits.actions ?? 50)
    out.push('')
    out.push(`<details><summary>Actions (${shown.length} of ${plan.actions.length})</summary>`)
    out.push('')
    shown.forEach((a, i) => out.push(`${i + 1}. ${describeAction(a, bandBounds(s.target))}`))
    out.push('')
    out.push('</details>')
  }
  out.push('')
  out.push(`Computed from etcd revision ${plan.createdFrom.revision}, shard map \`${plan.createdFrom.fingerprint.slice(0, 12)}\`; plan sha256 \`${plan.hash.slice(0, 12)}\`.`)
  return out.join('\n')
}
