import {type Move} from '../../src/model/move.js'
import {type ChaosEnv, type ExecutorRun} from './chaosEnv.js'
import {type ChaosHistory, type ChaosWorkloadOptions} from './history.js'
import {PARTITION_SCENARIOS} from './partitionScenarios.js'

/**
 * Scenario is one fault schedule. `inject` runs while the drain plan executes under load:
 * it waits for a moment (a move in some phase), does harm, and heals what it must for the
 * run to finish (a node restarted, an etcd member back); every wait is bounded. It returns
 * notes for the report (what it hit, when).
 */
export interface Scenario {
  name: string
  /** short: part of the short suite `.ci/run` runs. */
  short: boolean
  /** nodeArgs are extra `node serve` flags for this scenario's nodes. */
  nodeArgs?: string[]
  /** workload adjusts the recorded client workload (pattern, deletes, routers per operation, keys). */
  workload?: Partial<Pick<ChaosWorkloadOptions, 'pattern' | 'deleteEvery' | 'routerPerOp' | 'keysPerWorker'>>
  /**
   * inject does the harm and returns notes. It throws (failing the scenario) when its fault
   * did not land: a scenario that tested nothing must not pass.
   */
  /** ownAddresses: every process on its own 127.x address, with env.partition to cut traffic (partition scenarios). */
  ownAddresses?: boolean
  inject(env: ChaosEnv): Promise<string[]>
  /**
   * proveLanded checks, after the run, that the fault hit what the scenario claims to test
   * (not only that nothing broke): the scenario fails on any problem; `note` goes to the report.
   */
  proveLanded?(env: ChaosEnv, history: ChaosHistory): Promise<{problems: string[]; note: string}>
}

/** FaultMissed is thrown by a scenario whose fault did not hit its target (fails the scenario). */
export class FaultMissed extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const copying = (m: Move) => m.phase === 'copying' && m.progress.bytes > 0

/**
 * startResume runs `apply --resume` until one stays up (the dead executor's lock lease
 * must expire first: exit 8 means "held", retried) or finishes; bounded by `timeoutMs`.
 */
async function startResume(env: ChaosEnv, timeoutMs: number): Promise<ExecutorRun | undefined> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    await env.markResumed()
    const run = env.startExecutor(['apply', '--resume', '--yes'])
    const early = await Promise.race([run.exited, sleep(4000).then(() => undefined)])
    if (early === undefined || early === 0) return run
    await sleep(500)
  }
  return undefined
}

/**
 * killExecutorMidMove waits (bounded) for a move in one of `phases` (other than `not`, when
 * given) and SIGKILLs the executor `run`; returns the move it interrupted.
 */
async function killExecutorMidMove(env: ChaosEnv, run: ExecutorRun | undefined, notes: string[], label: string, phases: readonly string[], not?: Move): Promise<Move | undefined> {
  const m = await env.waitForMove((x) => phases.includes(x.phase) && (x.phase !== 'copying' || x.progress.bytes > 0) && !(not && x.id === not.id && x.phase === not.phase), 60_000)
  if (!run || !m) {
    notes.push(`${label}: no running move to interrupt`)
    return undefined
  }
  run.kill('SIGKILL')
  await run.exited
  notes.push(`${label}: SIGKILL executor pid ${run.pid} with ${m.id} in ${m.phase}`)
  return m
}

/** killNode SIGKILLs node `id`, keeps it down `downMs`, restarts it on its data. */
async function crashNode(env: ChaosEnv, id: string, downMs: number): Promise<void> {
  await env.dp.nodes[id]!.kill()
  await sleep(downMs)
  await env.dp.startNode(id)
}

/** TOMBSTONE_GRACE_MS is the tombstone grace of the tombstone-churn scenario: short, so the run spans many graces. */
const TOMBSTONE_GRACE_MS = 3000

/** purgesIn sums the tombstones the nodes' anti-entropy logged as purged, and those logged at or after `sinceMs`. */
function purgesIn(logs: string, sinceMs: number): {total: number; since: number} {
  let total = 0
  let since = 0
  for (const line of logs.split('\n')) {
    if (!line.includes('"purgedTombstones"')) continue
    try {
      const entry = JSON.parse(line) as {t: string; purgedTombstones: number}
      total += entry.purgedTombstones
      if (Date.parse(entry.t) >= sinceMs) since += entry.purgedTombstones
    } catch {
      // a partial line at the end of a killed node's log
    }
  }
  return {total, since}
}

/**
 * tombstoneChurn: scenario (b) of issue #10 — steady deletes with a 3 s tombstone grace for
 * many graces, while n5 drains (moves) and a move's destination is SIGKILLed and
 * restarted. Every deleted key keeps being read back; the checker flags any that returns.
 * It proves its fault landed: a move was copying while deletes ran, deletes acknowledged
 * several graces before the end exist and were read back later, and the nodes' anti-
 * entropy purged tombstones (after the restart too).
 */
function tombstoneChurn(): Scenario {
  let copyingMove: Move | undefined
  let restartedAt = 0
  return {
    name: 'tombstone churn, 3 s grace, moves + node restart',
    short: false,
    nodeArgs: ['--tombstone-grace', `${TOMBSTONE_GRACE_MS / 1000}s`],
    workload: {pattern: 'delete-churn'},
    async inject(env) {
      copyingMove = await env.waitForMove(copying, 60_000)
      if (!copyingMove) return ['no copying move seen']
      await crashNode(env, copyingMove.to, 2000)
      restartedAt = Date.now()
      // Several graces of deletes after the restart, while the drain goes on.
      await sleep(8 * TOMBSTONE_GRACE_MS)
      return [`SIGKILL destination ${copyingMove.to} during ${copyingMove.id} copying, restarted after 2 s; then ${(8 * TOMBSTONE_GRACE_MS) / 1000} s (8 graces) of deletes`]
    },
    async proveLanded(env, history) {
      const problems: string[] = []
      if (!copyingMove) problems.push('no move was copying while deletes ran')
      const end = Math.max(...history.ops.map((o) => o.complete))
      const deletes = history.ops.filter((o) => o.kind === 'write' && o.value === null && o.outcome === 'ok')
      const old = deletes.filter((d) => d.complete <= end - 3 * TOMBSTONE_GRACE_MS)
      if (old.length < 100) problems.push(`only ${old.length} deletes acknowledged 3 graces before the end (want >= 100)`)
      const deletedAt = new Map(deletes.map((d) => [d.key, d.complete]))
      const readBacks = history.ops.filter((o) => o.kind === 'read' && o.outcome === 'ok' && (deletedAt.get(o.key) ?? Infinity) <= o.invoke - 2 * TOMBSTONE_GRACE_MS)
      if (readBacks.length < 50) problems.push(`only ${readBacks.length} reads of keys deleted 2 graces before (want >= 50)`)
      const purged = purgesIn(env.dp.nodeLogs(), restartedAt)
      if (purged.total < 100) problems.push(`the nodes purged only ${purged.total} tombstones (want >= 100)`)
      if (purged.since === 0) problems.push('no tombstone was purged after the node restart')
      const counts = await env.moveCounts()
      if (counts.completed < 1) problems.push('no move completed')
      return {problems, note: `${deletes.length} deletes acked (${old.length} >= 3 graces before the end), ${readBacks.length} read-backs >= 2 graces after the delete, ${purged.total} tombstones purged (${purged.since} after the restart), ${counts.completed} moves completed`}
    },
  }
}

/** SCENARIOS: the fault list, each against a drain of n5 (a plan of ≥ 10 moves) under load. */
export const SCENARIOS: Scenario[] = [
  {
    name: 'executor SIGKILL x2 + resume',
    short: true,
    async inject(env) {
      const notes: string[] = []
      // First mid-copy, then (after the resume) in a later phase or another move.
      const first = await killExecutorMidMove(env, env.executors[0], notes, 'kill 1', ['copying'])
      await killExecutorMidMove(env, await startResume(env, 60_000), notes, 'kill 2', ['copying', 'verifying', 'cutover', 'release', 'draining'], first)
      await startResume(env, 60_000)
      return notes
    },
  },
  {
    name: 'source node SIGKILL',
    short: false,
    async inject(env) {
      const m = await env.waitForMove(copying, 60_000)
      if (!m) return ['no copying move seen']
      await crashNode(env, m.from, 5000)
      return [`SIGKILL source ${m.from} during ${m.id} copying, restarted after 5 s`]
    },
  },
  {
    name: 'destination node SIGKILL',
    short: false,
    async inject(env) {
      const m = await env.waitForMove(copying, 60_000)
      if (!m) return ['no copying move seen']
      await crashNode(env, m.to, 5000)
      return [`SIGKILL destination ${m.to} during ${m.id} copying, restarted after 5 s`]
    },
  },
  {
    name: 'router SIGKILL (clients fail over)',
    short: true,
    async inject(env) {
      const m = await env.waitForMove((x) => x.phase !== 'pending', 60_000)
      await sleep(1500)
      await env.killRouter(0)
      return [`SIGKILL router r1 while ${m?.id ?? 'moves'} ran; clients continue on r2`]
    },
  },
  {
    name: 'node SIGSTOP > lease, SIGCONT',
    short: false,
    async inject(env) {
      const m = await env.waitForMove(copying, 60_000)
      if (!m) return ['no copying move seen']
      const node = env.dp.nodes[m.to]!
      node.signal('SIGSTOP')
      await sleep(6000) // the node lease TTL is 3 s
      node.signal('SIGCONT')
      return [`SIGSTOP destination ${m.to} for 6 s (lease 3 s) during ${m.id} copying`]
    },
  },
  {
    name: 'etcd member loss, then leader loss',
    short: false,
    async inject(env) {
      await env.waitForMove((x) => x.phase !== 'pending', 60_000)
      const leader = await env.etcd.leaderIndex()
      if (leader === undefined) return ['no etcd leader found']
      const follower = (leader + 1) % 3
      await env.etcd.kill(follower)
      await sleep(5000)
      await env.etcd.restart(follower)
      await sleep(2000)
      const leader2 = (await env.etcd.leaderIndex()) ?? leader
      await env.etcd.kill(leader2)
      await sleep(5000)
      await env.etcd.restart(leader2)
      return [`SIGKILL etcd follower m${follower + 1} 5 s, then leader m${leader2 + 1} 5 s`]
    },
  },
  {
    name: 'etcd restart during cutover',
    short: false,
    async inject(env) {
      const m = await env.waitForMove((x) => x.phase === 'verifying' || x.phase === 'cutover' || x.phase === 'release', 90_000)
      if (!m) return ['no move reached cutover']
      await Promise.all([0, 1, 2].map((i) => env.etcd.kill(i, true)))
      await sleep(3000)
      await Promise.all([0, 1, 2].map((i) => env.etcd.restart(i, false)))
      await env.etcd.waitAllHealthy()
      return [`restarted all 3 etcd members (3 s down) with ${m.id} in ${m.phase}`]
    },
  },
  {
    name: 'clock skew: routers and nodes ahead and behind, within and beyond the bound',
    short: true,
    // Each operation goes to a random router and each worker has only two keys, so one key's writes cross routers
    // with different clocks milliseconds apart (faster than reads fold the fast clock into the slow router's HLC); some are deletes.
    workload: {routerPerOp: true, deleteEvery: 4, keysPerWorker: 2},
    async inject(env) {
      const notes: string[] = []
      const before = await env.routerMetric('shardctl_router_write_reissues_total')
      await env.waitForMove((x) => x.phase !== 'pending', 60_000)
      // Within the 500 ms bound (pairwise at most 450 ms apart): everyone keeps taking writes, real-time order must hold.
      const ahead = await env.restartRouterWithClock(1, 300, 'ahead')
      await env.restartNodeWithClock('n2', -150)
      await sleep(2500)
      const h = await env.health(ahead)
      if (!h.clockOk || (h.clockOffsetMs ?? 0) < 200) throw new FaultMissed(`router r2-ahead does not measure itself ~300 ms ahead: ${JSON.stringify(h)}`)
      notes.push(`r2 restarted +300 ms (measured ${h.clockOffsetMs} ms, in bounds); n2 restarted -150 ms`)
      await sleep(8000)
      const reissued = (await env.routerMetric('shardctl_router_write_reissues_total')) - before
      if (reissued <= 0) throw new FaultMissed('no write was re-issued above a newer version: the skew never made a write lose')
      notes.push(`${reissued} write(s) re-issued above a newer version (each would have been an acknowledged lost write before)`)
      // Beyond the bound: a router 2 s behind and a node 2 s ahead must stop taking writes; the cluster goes on without them.
      const far = await env.restartRouterWithClock(0, -2000, 'behind')
      await env.restartNodeWithClock('n3', 2000)
      await sleep(3000)
      const hf = await env.health(far)
      const hn = await env.health(env.dp.nodes.n3!.address)
      if (hf.clockOk !== false || hn.clockOk !== false) throw new FaultMissed(`members 2 s off are not out of bounds: router ${JSON.stringify(hf)}, node n3 ${JSON.stringify(hn)}`)
      notes.push(`r1 restarted -2 s (measured ${hf.clockOffsetMs} ms, refusing writes); n3 restarted +2 s (measured ${hn.clockOffsetMs} ms, refusing writes)`)
      await sleep(6000)
      // Heal: clocks fixed, so the run can finish and repair converge.
      await env.restartNodeWithClock('n3', 0)
      await env.restartRouterWithClock(0, 0, 'fixed')
      await env.restartNodeWithClock('n2', 0)
      return notes
    },
  },
  tombstoneChurn(),
]

SCENARIOS.push(...PARTITION_SCENARIOS)
