import {makeProgressSink} from '../cli/executorProgress.js'
import {formatBytes} from '../model/units.js'
import {describeAction, imbalanceLine, renderPlanText} from '../planner/render/planText.js'
import {bandBounds} from '../planner/ratioText.js'
import {utilisationBar} from '../planner/render/utilisationBar.js'
import {type TopSession} from '../tui/topSession.js'
import {type DemoReport, type DemoSummary} from './demoService.js'
import {type KeptDemo} from './keptDemo.js'

/**
 * plainReporter renders the demo's story as plain lines (CI, pipes, --no-tui): steps,
 * what was started, the plan as text, executor phase changes and retries (progress at
 * most every 2 s).
 */
export function plainReporter(write: (line: string) => void): (r: DemoReport) => void {
  const sink = makeProgressSink('lines', write)
  let lastStep = ''
  return (r) => {
    switch (r.type) {
      case 'step':
        // The skew wait repeats its step every second; print the first and every change of kind.
        if (r.text.split(':')[0] !== lastStep.split(':')[0]) write(`▶ ${r.text}`)
        lastStep = r.text
        break
      case 'line':
        write(`  ${r.text}`)
        break
      case 'plan':
        write(`  ${r.title} plan:`)
        for (const line of renderPlanText(r.plan, {nodes: 8, actions: 8}).split('\n')) write(`    ${line}`)
        break
      case 'executor':
        sink.emit(r.event)
        break
      case 'ready':
        break
    }
  }
}

/**
 * tuiReporter feeds the demo's story into a running dashboard: steps become the header's
 * stage, lines and plans go to the event log, executor retries and notices too (phases and
 * progress already arrive through the etcd watch).
 */
export function tuiReporter(session: () => TopSession | undefined, fallback: (r: DemoReport) => void): (r: DemoReport) => void {
  return (r) => {
    const s = session()
    if (!s) return fallback(r)
    const at = Date.now()
    switch (r.type) {
      case 'step':
        s.store.dispatch({type: 'stage', at, text: r.text})
        break
      case 'line':
        s.store.dispatch({type: 'notice', at, level: 'info', text: r.text})
        break
      case 'plan':
        s.store.dispatch({type: 'notice', at, level: 'info', text: `plan for ${r.title}: ${r.plan.summary.moves} moves, ${imbalanceLine(r.plan)}`})
        for (const a of r.plan.actions.slice(0, 4)) s.store.dispatch({type: 'notice', at, level: 'info', text: `  ${describeAction(a, bandBounds(r.plan.summary.target))}`})
        if (r.plan.actions.length > 4) s.store.dispatch({type: 'notice', at, level: 'info', text: `  … and ${r.plan.actions.length - 4} more`})
        break
      case 'executor':
        if (r.event.type === 'retry' || r.event.type === 'info') s.store.dispatch({type: 'executor', event: r.event})
        break
      case 'ready':
        break
    }
  }
}

/**
 * summaryLines renders the demo's summary for a terminal or a log: outcome, per-node
 * utilisation before/after as bars, acts, data moved, what the clients saw, whether TLS
 * and authentication were on, and either what was cleaned up or (kept) how to reach the
 * cluster and how to stop it. `bin` is the CLI's name in the commands it suggests.
 */
export function summaryLines(s: DemoSummary, dataDir: string, bin = 'shardctl'): string[] {
  const fig = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(2)}x`)
  const failedMoves = s.moves.aborted + s.moves.failed
  const scale = Math.max(2, ...s.utilisation.flatMap((u) => [u.before ?? 0, u.after ?? 0]))
  const bar = (v: number | null) => (v === null ? ' '.repeat(16) : utilisationBar(v, scale, 16, 1).replace(/ /g, '·'))
  return [
    `Summary (${s.ok ? 'success' : 'FAILED'})`,
    `  imbalance  ${fig(s.imbalanceBefore)} → ${fig(s.imbalanceAfter)} the mean (target ${s.target.toFixed(2)}x${s.imbalancePredicted !== null ? `; last plan predicted ${fig(s.imbalancePredicted)}` : ''}) — ${s.balanced ? 'balanced' : `not balanced yet${outsideBand(s)}`}`,
    ...(s.utilisation.length > 0 ? ['  nodes      utilisation (1.00 = the mean, │ marks it)  before → after'] : []),
    ...s.utilisation.map((u) => `    ${u.node.padEnd(6)}   ${bar(u.before)} ${fig(u.before).padStart(5)}  →  ${bar(u.after)} ${fig(u.after).padStart(5)}`),
    ...s.acts.map((a) => `  ${a.title.padEnd(22)} ${a.done}/${a.planned} moves, ${formatBytes(a.bytes)} in ${(a.ms / 1000).toFixed(1)} s`),
    `  moves      ${s.moves.done} done in ${s.rounds} act(s), ${s.moves.aborted} aborted, ${s.moves.failed} failed, ${s.moves.skipped} skipped; ${formatBytes(s.bytesMoved)} copied`,
    `  duration   ${(s.rebalanceMs / 1000).toFixed(1)} s rebalancing, ${(s.totalMs / 1000).toFixed(1)} s in all`,
    `  clients    ${s.requests.total} requests, ${s.requests.errors} errors; during the rebalance ${s.requests.duringRebalance} requests, ${s.requests.errorsDuringRebalance} errors; worst request ${s.requests.worstMs} ms`,
    ...s.requests.firstErrors.map((e) => `             error: ${e}`),
    ...(failedMoves > 0 ? ['  a move did not complete: see the log above'] : []),
    `  security   ${s.security.tls ? `TLS on every hop (clients → router → nodes, node → node copies; plaintext refused); authentication on: the clients were user ${s.security.user ?? '?'} with a token` : 'plaintext, no authentication (`--secure` turns on TLS and tokens)'}`,
    ...(s.kept ? keptLines(s.kept, bin) : [`  cleanup    stopped etcd, ${s.nodes} nodes and the router; removed ${dataDir}`, `  explore    \`${bin} demo --keep\` leaves the cluster running for \`${bin} top\`; \`${bin} moves show <id>\` has every step of a move`]),
  ]
}

/** keptLines say where a kept demo runs, how to point the CLI at it, and exactly how to stop it. */
export function keptLines(k: KeptDemo, bin = 'shardctl'): string[] {
  const env = [`ETCDCTL_ENDPOINTS=${k.endpoint}`, `SHARDCTL_CLUSTER=${k.cluster}`, `SHARDCTL_ROUTER=${k.router}`, ...(k.secure ? [`SHARDCTL_TLS_CA=${k.secure.ca}`, `SHARDCTL_AUTH_TOKEN_FILE=${k.secure.tokenFile}`] : [])]
  return [
    `  kept       etcd at ${k.endpoint}, ${k.nodes.length} nodes, router at ${k.router} keep running (${k.processes.length} processes; logs and pids in ${k.dir})`,
    `  connect    export ${env.join(' ')}`,
    `             ${bin} top   ·   ${bin} cluster status   ·   ${bin} kv put hello world`,
    `  stop       ${bin} demo stop --dir ${k.dir}   (stops every process and deletes the data)`,
  ]
}

/**
 * outsideBand names the nodes whose utilisation after the story is outside the planner's band
 * [2 - target, target] (a node can be under it while the imbalance, max ÷ mean, is within the
 * target): ` (n3 at 0.89x, under the band's 0.90x)`, or '' when none is (the last plan still
 * had moves for other reasons). Empty nodes (drained) are not in the band.
 */
export function outsideBand(s: Pick<DemoSummary, 'target' | 'utilisation'>): string {
  const floor = Math.max(0, 2 - s.target)
  const parts: string[] = []
  for (const u of s.utilisation) {
    if (u.after === null || u.after === 0) continue
    if (u.after > s.target) parts.push(`${u.node} at ${apart(u.after, s.target)}x, over the target ${s.target.toFixed(2)}x`)
    else if (u.after < floor) parts.push(`${u.node} at ${apart(u.after, floor)}x, under the band's ${floor.toFixed(2)}x`)
  }
  return parts.length > 0 ? ` (${parts.join('; ')})` : ''
}

/**
 * apart formats `value` with two decimals, or with as many more (up to four) as it takes
 * not to read the same as `bound` at two: "n3 at 0.899x, under the band's 0.90x", never
 * "n3 at 0.90x, under the band's 0.90x" (a fresh-clone demo printed that).
 */
function apart(value: number, bound: number): string {
  for (let digits = 2; digits < 4; digits++) {
    const text = value.toFixed(digits)
    if (Number(text) !== Number(bound.toFixed(2))) return text
  }
  return value.toFixed(4)
}
