import {formatBytes} from '../model/units.js'
import {type RedisDemoSummary} from './redisDemo.js'

/**
 * redisSummaryLines renders the Redis demo's summary for a terminal or a log: outcome,
 * per-master slots, measured ops/s and used memory before → after, the worst master over the
 * mean by ops and by memory, what the plan predicted, what moved, what the clients saw and
 * whether every key read back its last written value, and every warning a move carries (a
 * master restarted mid-move: keys may be lost), each with `moves ack` as the way out.
 */
export function redisSummaryLines(s: RedisDemoSummary, dataDir: string): string[] {
  const fig = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(2)}x`)
  const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`
  return [
    `Summary (${s.ok ? 'success' : 'FAILED'})`,
    `  ops        worst master ${fig(s.opsImbalance.before)} → ${fig(s.opsImbalance.after)} the mean (measured, INFO commandstats); the plan predicted ${fig(s.plan.imbalanceBefore)} → ${fig(s.plan.imbalanceAfter)}`,
    `  memory     worst master ${fig(s.memoryImbalance.before)} → ${fig(s.memoryImbalance.after)} the mean (used_memory)`,
    '  masters    slots, ops/s, used memory: before → after',
    ...s.masters.map((m) => `    ${m.node}  ${m.address.padEnd(16)} ${String(m.slots.before).padStart(5)} → ${String(m.slots.after).padEnd(5)}  ${String(m.opsPerSec.before).padStart(6)} → ${String(m.opsPerSec.after).padEnd(6)} ops/s  ${mib(m.usedMemory.before)} → ${mib(m.usedMemory.after)}`),
    `  moves      ${s.moves.done} done, ${s.moves.aborted} aborted, ${s.moves.failed} failed, ${s.moves.skipped} skipped; ${s.keysMoved} keys, ${formatBytes(s.bytesMoved)} migrated in ${(s.rebalanceMs / 1000).toFixed(1)} s`,
    `  clients    ${s.requests.requests} requests, ${s.requests.errors} errors; during the rebalance ${s.requests.duringRebalance} requests, ${s.requests.errorsDuringRebalance} errors; worst request ${Math.round(s.requests.worstMs)} ms`,
    ...s.requests.firstErrors.map((e) => `             error: ${e}`),
    `  values     ${s.verified.checked} keys read back, ${s.verified.mismatched} without their last written value`,
    ...s.verified.examples.map((e) => `             ${e}`),
    ...(s.warnings.length === 0 ? [] : [`  warnings   ${s.warnings.length} (the demo's cluster is gone: in yours, check the keys named, then \`shardctl moves ack <move>\`)`, ...s.warnings.map((w) => `             ${w.text}`)]),
    `  cleanup    stopped etcd and ${s.masters.length * (1 + s.replicasPerMaster)} redis-server processes; removed ${dataDir}`,
  ]
}
