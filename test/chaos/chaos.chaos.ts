import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {type ChaosEnv} from './chaosEnv.js'
import {ChaosEnv as Env} from './chaosEnv.js'
import {checkHistory, type CheckReport} from './checker.js'
import {CHAOS_TEST_TIMEOUT_MS, Deadline, REPAIR_RESERVE_MS, SCENARIO_BUDGET_MS, TAIL_RESERVE_MS} from './deadline.js'
import {readFinal, runHistoryWorkload} from './history.js'
import {MISSED_PREFIX, SCENARIOS, type Scenario, VIOLATION_PREFIX} from './scenarios.js'
import {renderTable, type ScenarioResult} from './table.js'

/**
 * The chaos suite (`npm run test:chaos`; `CHAOS_SHORT=1` for the short one `.ci/run` runs;
 * `CHAOS_ONLY=<substring>[,<substring>]` picks scenarios; `CHAOS_TLS=1` runs them on a TLS-only cluster). Each scenario gets a fresh world — 3-member
 * etcd, 5 nodes (rf 3, 24 shards; 12 in the short suite), 2 routers — drains n5 (≥ 10 moves) under a recorded
 * client workload (or, for a scenario that owns its moves, lets it make them: the autopilot heals a lost n5), injects its fault, lets the executor finish (resuming it if needed),
 * runs `shardctl repair`, then checks the history (lost writes, stale and phantom reads)
 * and replica convergence. The table goes to stdout and to $CHAOS_REPORT (default
 * chaos-report.md in the OS temp dir).
 */
const short = process.env.CHAOS_SHORT === '1'
const only = process.env.CHAOS_ONLY
/** CHAOS_TLS=1 runs every scenario on a TLS-only cluster: mutual TLS on every node, HTTPS routers, TLS executor and repair. */
const tls = process.env.CHAOS_TLS === '1'
const picked = SCENARIOS.filter((s) => (only ? only.split(',').some((o) => s.name.includes(o)) : !short || s.short))
const results: ScenarioResult[] = []
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * WORLD: 24 shards at rf 3 put ~14 replicas on n5 (a drain plan of >= 10 moves); the short
 * suite halves it to stay near a minute per scenario. About 100 KiB per shard replica (8 KiB
 * values) under the drain's 48 KiB/s global throttle makes every copy last seconds however
 * fast the machine is, so a fault aimed at a copying move finds one.
 */
const WORLD = short ? {shards: 12, preloadKeys: 150, preloadValueBytes: 8192} : {shards: 24, preloadKeys: 300, preloadValueBytes: 8192}
const DRAIN = ['node', 'drain', 'n5', '--yes', '--max-concurrent', '3', '--per-node', '3', '--throttle', '48KiB/s', '--chunk-size', '4KiB', '--drain-timeout', '3s']

async function runScenario(s: Scenario): Promise<{result: ScenarioResult; check: CheckReport; landed: string[]}> {
  const started = Date.now()
  // One deadline for the whole scenario, inside the test timeout: inject gets it minus the
  // harness's tail, and the harness's own waits take what is left, so a slow run fails with
  // the scenario's notes instead of a bare vitest timeout.
  const deadline = Deadline.in(SCENARIO_BUDGET_MS)
  const env: ChaosEnv = await Env.start(s.name.split(' ')[0]!.toLowerCase().replace(/[^a-z]/g, ''), {nodes: 5, rf: 3, ...WORLD, nodeArgs: [...(s.nodeArgs ?? []), ...(s.world?.nodeExtra ?? [])], routerExtra: s.world?.routerExtra, ownAddresses: s.ownAddresses, tls})
  try {
    const stop = new AbortController()
    const load = runHistoryWorkload({routers: () => env.routerAddresses(), workers: 4, keysPerWorker: 12, maxOps: 40_000, maxMs: 240_000, stop: stop.signal, ...s.workload})
    await sleep(500)
    if (!s.ownsMoves) env.startExecutor(DRAIN)
    const notes = await s.inject(env, deadline.before(TAIL_RESERVE_MS))
    await env.finishMoves(deadline.before(REPAIR_RESERVE_MS).budget(150_000))
    await sleep(1000) // a little load after the last move
    stop.abort()
    const history = await load
    // Heal: every process back, then anti-entropy.
    await env.ensureNodesUp()
    for (let i = 0; i < 3; i++) await env.etcd.restart(i)
    const repairCode = await env.repair(deadline.budget(90_000))
    const router = env.routerAddresses().at(-1)!
    const finals = await readFinal(router, new Set(history.ops.map((o) => o.key)))
    const check = checkHistory(history.ops, finals)
    let conv = await env.converged()
    if (!conv.ok) {
      // One more repair round for writes that raced the first one.
      await env.repair(deadline.budget(90_000))
      conv = await env.converged()
    }
    const moves = await env.moveCounts()
    const landed = s.proveLanded ? await s.proveLanded(env, history) : {problems: [], note: ''}
    const result: ScenarioResult = {
      scenario: s.name,
      operations: check.operations,
      acked: check.writesAcked,
      unknown: check.writesUnknown,
      lost: check.lostWrites.length,
      stale: check.staleReads.length,
      phantom: check.phantomReads.length,
      moves,
      converged: conv.ok && repairCode === 0,
      seconds: Math.round((Date.now() - started) / 1000),
      notes: [...notes, ...(landed.note ? [landed.note] : []), ...landed.problems.map((p) => `fault did not land: ${p}`), ...(conv.ok ? [] : [`not converged: ${conv.detail}`]), ...(repairCode === 0 ? [] : [`repair exit ${repairCode}`])],
    }
    for (const a of [...check.lostWrites, ...check.staleReads, ...check.phantomReads].slice(0, 10)) result.notes.push(`${a.kind} ${a.key}: ${a.detail}`)
    const failedByStatus: Record<string, number> = {}
    for (const o of history.ops) if (o.outcome !== 'ok') failedByStatus[`${o.kind} ${o.status || 'no answer'}`] = (failedByStatus[`${o.kind} ${o.status || 'no answer'}`] ?? 0) + 1
    if (Object.keys(failedByStatus).length > 0) result.notes.push(`requests not ok, by HTTP status: ${JSON.stringify(failedByStatus)}`)
    for (const r of moves.abortReasons) result.notes.push(`aborted ${r.slice(0, 200)}`)
    if (moves.unfinished > 0) result.notes.push(`${moves.unfinished} move(s) unfinished; last executor stderr: ${env.executors.at(-1)?.stderr().slice(-400)}`)
    return {result, check, landed: landed.problems}
  } finally {
    await env.dispose()
  }
}

describe.sequential(`chaos${short ? ' (short)' : ''}${tls ? ' with TLS' : ''}`, () => {
  afterAll(() => {
    if (results.length === 0) return
    const table = renderTable(results)
    const file = process.env.CHAOS_REPORT ?? join(process.env.TMPDIR ?? '/tmp', 'chaos-report.md')
    writeFileSync(file, `${table}\n`)
    process.stdout.write(`\n${table}\n(written to ${file})\n`)
  })

  for (const s of picked) {
    it(s.name, {timeout: CHAOS_TEST_TIMEOUT_MS}, async () => {
      const {result, landed} = await runScenario(s)
      results.push(result)
      process.stdout.write(`[chaos] ${s.name}: ${JSON.stringify(result)}\n`)
      // A fault that missed its target tested nothing; a scenario's own check that saw a broken guarantee fails it too.
      expect(result.notes.filter((n) => n.startsWith(MISSED_PREFIX) || n.startsWith(VIOLATION_PREFIX)), result.notes.join('\n')).toEqual([])
      expect(result.lost, result.notes.join('\n')).toBe(0)
      expect(result.stale, result.notes.join('\n')).toBe(0)
      expect(result.phantom, result.notes.join('\n')).toBe(0)
      expect(result.converged, result.notes.join('\n')).toBe(true)
      expect(result.moves.total).toBeGreaterThanOrEqual(short ? 5 : 10)
      expect(result.moves.unfinished, result.notes.join('\n')).toBe(0)
      expect(landed, result.notes.join('\n')).toEqual([])
    })
  }
})
