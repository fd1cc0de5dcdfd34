import {parseLockHolder} from '../../src/etcd/leaseLock.js'
import {setThrottle} from '../../src/executor/controlService.js'
import {keyHash} from '../../src/model/hash.js'
import {type Move, copyGoalBytes, isTerminal} from '../../src/model/move.js'
import {type Shard} from '../../src/model/shard.js'
import {kv} from '../integration/router/dataPlane.js'
import {type ChaosEnv, type ExecutorRun} from './chaosEnv.js'
import {runCli} from '../support/runCli.js'
import {type ChaosHistory, type ChaosWorkloadOptions} from './history.js'
import {type Deadline} from './deadline.js'
import {type SkewExpectation, skewNotInEffect} from './clockSkew.js'
import {autopilotLeaderKill} from './autopilotScenario.js'
import {PARTITION_SCENARIOS} from './partitionScenarios.js'
import {purgesIn} from './purgeLog.js'
import {churnLanding} from './churnLanding.js'
import {splitsUnderFlappingFreezes, splitsUnderMoves} from './splitScenario.js'

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
  /** ownsMoves: the scenario makes its own moves (the autopilot heals a lost node); the suite starts no drain of n5. */
  ownsMoves?: boolean
  /** ownAddresses: every process on its own 127.x address, with env.partition to cut traffic (partition scenarios). */
  ownAddresses?: boolean
  /**
   * inject does the harm and returns notes. It throws (failing the scenario) when its fault
   * did not land: a scenario that tested nothing must not pass. Its waits take their budgets
   * from `deadline` (the harness keeps the time after it for finishing moves, repair and the
   * checks), so a slow run ends with the scenario's own text inside the per-test timeout.
   */
  inject(env: ChaosEnv, deadline: Deadline): Promise<string[]>
  /** world: extra flags for this scenario's nodes and routers (e.g. `--w 1`, a short tombstone grace). */
  world?: {nodeExtra?: string[]; routerExtra?: string[]}
  /**
   * proveLanded checks, after the run, that the fault hit what the scenario claims to test
   * (not only that nothing broke): the scenario fails on any problem; `note` goes to the report.
   */
  proveLanded?(env: ChaosEnv, history: ChaosHistory): Promise<{problems: string[]; note: string}>
}

/** MISSED_PREFIX starts a note saying the fault did not hit its target phase: the scenario then fails (it tested nothing). */
export const MISSED_PREFIX = 'FAULT MISSED: '
/** VIOLATION_PREFIX starts a note naming a guarantee a scenario's own check saw broken: the scenario fails. */
export const VIOLATION_PREFIX = 'VIOLATION: '

/** missed makes a note that fails the scenario: its fault did not land where it was aimed. */
export function missed(what: string): string {
  return `${MISSED_PREFIX}${what}`
}

/**
 * stillRunning re-reads move `m` after a fault: the fault landed mid-move only if the move
 * is still unfinished (and, with `phases`, still in one of them). Returns a note either way.
 */
async function stillRunning(env: ChaosEnv, m: Move, label: string, phases?: readonly string[]): Promise<{ok: boolean; note: string}> {
  const now = await env.move(m.id)
  if (!now || isTerminal(now.phase) || (phases && !phases.includes(now.phase))) {
    return {ok: false, note: missed(`${label}: ${m.id} was ${now?.phase ?? 'gone'} right after the fault (aimed at ${phases?.join('/') ?? 'a running move'})`)}
  }
  return {ok: true, note: `${label}: ${m.id} still ${now.phase} after the fault`}
}

/** FaultMissed is thrown by a scenario whose fault did not hit its target (fails the scenario). */
export class FaultMissed extends Error {}

/** SKEW_WAIT_CAP_MS bounds the wait for skewed members' clock monitors to measure and judge their skew (they probe once a second). */
const SKEW_WAIT_CAP_MS = 45_000

/**
 * waitForSkews polls the members' `/healthz` until every one's skew is in effect
 * ({@link skewNotInEffect}), bounded by SKEW_WAIT_CAP_MS and `deadline`; returns the offsets
 * their clock monitors measured, in order, and how long it took. Throws FaultMissed naming
 * each member whose skew did not land, with the last reason.
 */
async function waitForSkews(env: ChaosEnv, deadline: Deadline, members: Array<SkewExpectation & {label: string; address: string}>): Promise<{measured: number[]; seconds: string}> {
  const budget = deadline.budget(SKEW_WAIT_CAP_MS)
  const from = Date.now()
  const by = from + budget
  const measured = new Map<number, number>()
  const why = new Map<number, string>()
  while (measured.size < members.length) {
    for (const [i, m] of members.entries()) {
      if (measured.has(i)) continue
      const reading = await env.clockReading(m.address)
      const reason = reading ? skewNotInEffect(reading, m) : 'no answer from /healthz'
      if (reason === undefined) measured.set(i, reading!.health.clockOffsetMs!)
      else why.set(i, reason)
    }
    if (measured.size === members.length) break
    if (Date.now() >= by) {
      const missing = members.flatMap((m, i) => (measured.has(i) ? [] : [`${m.label} (${m.offsetMs > 0 ? '+' : ''}${m.offsetMs} ms): ${why.get(i)}`]))
      throw new FaultMissed(`skew not in effect within ${deadline.within(budget, SKEW_WAIT_CAP_MS)}: ${missing.join('; ')}`)
    }
    await sleep(250)
  }
  return {measured: members.map((_, i) => measured.get(i)!), seconds: ((Date.now() - from) / 1000).toFixed(1)}
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const copying = (m: Move) => m.phase === 'copying' && m.progress.bytes > 0

/**
 * copyingWithRoom is {@link copying} with at least 40 % of the copy still to go (when its goal
 * is known): a kill aimed at the stream must land before the copy ends. On a loaded machine
 * (1-minute load 30) a source kill chosen at 98 of about 100 KB landed after the copy had
 * ended (the move was promoting): a fault that tested nothing.
 */
const copyingWithRoom = (m: Move) => {
  const goal = copyGoalBytes(m.progress)
  return copying(m) && (goal === 0 || m.progress.bytes < 0.6 * goal)
}

/**
 * startResume runs `apply --resume` until one holds the executor lock (the dead executor's
 * lock lease must expire first: exit 8 means "held", retried) or finishes; bounded by
 * `timeoutMs`. Holding the lock, not merely being alive after a few seconds, is the test: a
 * slow start on a loaded machine can still end in exit 8 (seen: FAULT MISSED on kill 2).
 */
async function startResume(env: ChaosEnv, timeoutMs: number, extra: string[] = []): Promise<ExecutorRun | undefined> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    await env.markResumed()
    const run = env.startExecutor(['apply', '--resume', '--yes', ...extra])
    let code: number | null | undefined
    void run.exited.then((c) => (code = c))
    while (code === undefined && Date.now() < deadline) {
      if (await holdsExecutorLock(env, run.pid)) return run
      await sleep(200)
    }
    if (code === 0) return run
    if (code === undefined) return run // still starting at the deadline: let the caller's own wait decide
    await sleep(500)
  }
  return undefined
}

/** holdsExecutorLock says whether the executor lock names process `pid` as its holder. */
async function holdsExecutorLock(env: ChaosEnv, pid: number): Promise<boolean> {
  const lock = await env.dp.ctx.store.get(env.dp.ctx.keys.executorLock).catch(() => undefined)
  return lock !== undefined && lock !== null && parseLockHolder(lock.value)?.pid === pid
}

/**
 * killExecutorMidMove waits (bounded) for a move in one of `phases` (other than `not`, when
 * given) and SIGKILLs the executor `run`; returns the move it interrupted.
 */
async function killExecutorMidMove(env: ChaosEnv, run: ExecutorRun | undefined, notes: string[], label: string, phases: readonly string[], not?: Move): Promise<Move | undefined> {
  // The move interrupted before (`not`) counts again once it has left that phase or copied more.
  const m = await env.waitForMove((x) => phases.includes(x.phase) && (x.phase !== 'copying' || x.progress.bytes > 0) && !(not && x.id === not.id && x.phase === not.phase && x.progress.bytes <= not.progress.bytes), 60_000)
  if (!run || !m) {
    const seen = (await env.moves().catch(() => [])).map((x) => `${x.id.slice(-4)}:${x.phase}:${x.progress.bytes}`).join(' ')
    const why = !run ? 'no resumed executor stayed up' : `no move reached ${phases.join('/')} (moves: ${seen}; executor ${await Promise.race([run.exited.then((c) => `exited ${c}`), sleep(10).then(() => 'running')])}: ${run.stderr().slice(-300)})`
    notes.push(missed(`${label}: no running move to interrupt: ${why}`))
    return undefined
  }
  run.kill('SIGKILL')
  await run.exited
  const check = await stillRunning(env, m, label)
  notes.push(check.ok ? `${label}: SIGKILL executor pid ${run.pid} with ${m.id} in ${m.phase}` : check.note)
  return m
}

/** killNode SIGKILLs node `id`, keeps it down `downMs`, restarts it on its data. */
async function crashNode(env: ChaosEnv, id: string, downMs: number): Promise<void> {
  await env.dp.nodes[id]!.kill()
  await sleep(downMs)
  await env.dp.startNode(id)
}

/** NODE_LEASE_TTL_MS is the chaos nodes' etcd lease TTL (`--lease-ttl 3s`, test/integration/node/nodeProcess.ts). */
const NODE_LEASE_TTL_MS = 3000

/** aliveKeyGone polls (bounded) until etcd no longer holds node `id`'s leased alive key: its lease lapsed. */
async function aliveKeyGone(env: ChaosEnv, id: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const alive = await env.dp.ctx.store.get(env.dp.ctx.keys.alive(id)).catch(() => 'unknown' as const)
    if (alive === undefined) return true
    await sleep(200)
  }
  return false
}

/** TOMBSTONE_GRACE_MS is the tombstone grace of the tombstone-churn scenario: short, so the run spans many graces. */
const TOMBSTONE_GRACE_MS = 3000

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
  let faultAt = 0
  let restartedAt = 0
  return {
    name: 'tombstone churn, 3 s grace, moves + node restart',
    short: false,
    nodeArgs: ['--tombstone-grace', `${TOMBSTONE_GRACE_MS / 1000}s`],
    workload: {pattern: 'delete-churn'},
    async inject(env) {
      copyingMove = await env.waitForMove(copying, 60_000)
      if (!copyingMove) return [missed('no copying move seen')]
      faultAt = Date.now()
      await crashNode(env, copyingMove.to, 2000)
      restartedAt = Date.now()
      // Several graces of deletes after the restart, while the drain goes on.
      await sleep(8 * TOMBSTONE_GRACE_MS)
      return [`SIGKILL destination ${copyingMove.to} during ${copyingMove.id} copying, restarted after 2 s; then ${(8 * TOMBSTONE_GRACE_MS) / 1000} s (8 graces) of deletes`]
    },
    // The thresholds are shares of what this run did in its fault window (churnLanding), not
    // fixed counts: a slow machine issues fewer operations and must not fail for it.
    async proveLanded(env, history) {
      const landing = churnLanding({ops: history.ops, faultAt, restartedAt, graceMs: TOMBSTONE_GRACE_MS, purges: purgesIn(env.dp.nodeLogs(), restartedAt)})
      const problems = [...(copyingMove ? [] : ['no move was copying while deletes ran']), ...landing.problems]
      const counts = await env.moveCounts()
      if (counts.completed < 1) problems.push('no move completed')
      return {problems, note: `${landing.note}, ${counts.completed} moves completed`}
    },
  }
}

/** SCENARIOS: the issue's fault list, each against a drain of n5 (a plan of ≥ 10 moves) under load. */
export const SCENARIOS: Scenario[] = [
  {
    name: 'executor SIGKILL x2 + resume',
    short: true,
    async inject(env) {
      const notes: string[] = []
      // First mid-copy, then (after the resume) in a later phase or another move.
      const first = await killExecutorMidMove(env, env.executors[0], notes, 'kill 1', ['copying'])
      // Slow the copies (live, through the control record) before the resume, so on an idle
      // machine the remaining moves cannot all finish before the second kill lands. Small
      // chunks make the slow copy show progress within seconds: one 256 KiB chunk at this
      // rate took over a minute, longer than the kill waits (seen: FAULT MISSED).
      await setThrottle(env.dp.ctx, 16 * 1024)
      try {
        await killExecutorMidMove(env, await startResume(env, 60_000, ['--chunk-size', '4KiB']), notes, 'kill 2', ['copying', 'promoting', 'verifying', 'cutover', 'release', 'draining'], first)
      } finally {
        await setThrottle(env.dp.ctx, null)
      }
      await startResume(env, 60_000)
      return notes
    },
  },
  {
    name: 'source node SIGKILL',
    short: false,
    async inject(env) {
      const m = await env.waitForMove(copying, 60_000)
      if (!m) return [missed('no copying move seen')]
      await env.dp.nodes[m.from]!.kill()
      const check = await stillRunning(env, m, 'source kill', ['copying'])
      await sleep(5000)
      await env.dp.startNode(m.from)
      return [`SIGKILL source ${m.from} during ${m.id} copying, restarted after 5 s`, check.note]
    },
  },
  {
    name: 'destination node SIGKILL',
    short: false,
    async inject(env) {
      const m = await env.waitForMove(copying, 60_000)
      if (!m) return [missed('no copying move seen')]
      await env.dp.nodes[m.to]!.kill()
      const check = await stillRunning(env, m, 'destination kill', ['copying'])
      await sleep(5000)
      await env.dp.startNode(m.to)
      return [`SIGKILL destination ${m.to} during ${m.id} copying, restarted after 5 s`, check.note]
    },
  },
  {
    // The node-to-node copy path: the destination pulls from the source over one long
    // stream, so both ends can die mid-stream. The destination must resume from its durable
    // cursor after a restart; a dead source must be replaced (or waited for) by the executor.
    name: 'node-to-node copy: destination SIGKILL mid-stream, then source SIGKILL mid-stream',
    short: true,
    async inject(env) {
      const notes: string[] = []
      const first = await env.waitForMove(copyingWithRoom, 60_000)
      if (!first) return [missed('no copying move seen for the destination kill')]
      const before = first.progress.bytes
      await env.dp.nodes[first.to]!.kill()
      const check1 = await stillRunning(env, first, 'destination kill', ['copying'])
      notes.push(`SIGKILL destination ${first.to} mid-stream of ${first.id} at ${before} bytes`, check1.note)
      await sleep(3000)
      await env.dp.startNode(first.to)
      // The source kill needs a stream that is flowing again after the destination restart.
      const second = await env.waitForMove((x) => copyingWithRoom(x) && (x.id !== first.id || x.progress.bytes > before), 60_000)
      if (!second) return [...notes, missed('no copying move seen for the source kill')]
      await env.dp.nodes[second.from]!.kill()
      const check2 = await stillRunning(env, second, 'source kill', ['copying'])
      notes.push(`SIGKILL source ${second.from} mid-stream of ${second.id} at ${second.progress.bytes} bytes`, check2.note)
      await sleep(5000)
      await env.dp.startNode(second.from)
      return notes
    },
  },
  {
    name: 'router SIGKILL (clients fail over)',
    short: true,
    async inject(env) {
      const m = await env.waitForMove((x) => x.phase !== 'pending' && !isTerminal(x.phase), 60_000)
      if (!m) return [missed('no move started')]
      await sleep(1500)
      await env.killRouter(0)
      const running = (await env.moves()).filter((x) => !isTerminal(x.phase) && x.phase !== 'pending')
      return [`SIGKILL router r1 while ${m.id} ran; clients continue on r2`, running.length > 0 ? `${running.length} move(s) running at the kill` : missed('every move had finished before the router kill')]
    },
  },
  {
    name: 'node SIGSTOP > lease, SIGCONT',
    short: false,
    async inject(env) {
      const m = await env.waitForMove(copying, 60_000)
      if (!m) return [missed('no copying move seen')]
      const node = env.dp.nodes[m.to]!
      node.signal('SIGSTOP')
      const stoppedAt = Date.now()
      const check = await stillRunning(env, m, 'SIGSTOP', ['copying'])
      // The fault is a lease that lapses while the node cannot renew it. A fixed 2 TTL did not
      // prove that: etcd extends every lease when its leader changes (a loaded 3-member cluster
      // re-elects). Wait, bounded, until etcd dropped the node's alive key; stay stopped 2 TTL at least.
      const lapsed = await aliveKeyGone(env, m.to, 10 * NODE_LEASE_TTL_MS)
      const lapsedAfterMs = Date.now() - stoppedAt
      await sleep(Math.max(0, stoppedAt + 2 * NODE_LEASE_TTL_MS - Date.now()))
      node.signal('SIGCONT')
      const stoppedS = ((Date.now() - stoppedAt) / 1000).toFixed(1)
      const lapse = lapsed ? `its lease lapsed after ${(lapsedAfterMs / 1000).toFixed(1)} s` : missed(`${m.to}'s alive key outlived ${(10 * NODE_LEASE_TTL_MS) / 1000} s of SIGSTOP (lease ${NODE_LEASE_TTL_MS / 1000} s): its lease never lapsed`)
      return [`SIGSTOP destination ${m.to} for ${stoppedS} s (lease ${NODE_LEASE_TTL_MS / 1000} s) during ${m.id} copying`, check.note, lapse]
    },
  },
  {
    name: 'etcd member loss, then leader loss',
    short: false,
    // Who leads is asked of etcd right before each kill, not remembered: the follower's restart
    // can move the leadership, and a leader read before it could be a follower by the kill.
    async inject(env, deadline) {
      const startCap = 60_000
      const startBudget = deadline.budget(startCap)
      const m = await env.waitForMove((x) => x.phase !== 'pending' && !isTerminal(x.phase), startBudget)
      if (!m) return [missed(`no move started within ${deadline.within(startBudget, startCap)}`)]
      const check = await stillRunning(env, m, 'etcd member loss')
      if (!check.ok) return [check.note]
      const found = await env.etcd.leader(deadline.budget(10_000))
      if (typeof found === 'string') return [missed(`no etcd leader to spare for the member loss: ${found}`)]
      const follower = (found.leader.index + 1) % 3
      await env.etcd.kill(follower)
      await sleep(5000)
      await env.etcd.restart(follower)
      const notes = [`SIGKILL etcd follower m${follower + 1} (leader m${found.leader.index + 1} at term ${found.leader.term}) for 5 s`]
      const hit = await env.etcd.killLeader(deadline.budget(30_000))
      notes.push(hit.verdict === 'landed' ? `then SIGKILL etcd leader m${hit.killed! + 1} for 5 s: ${hit.detail}` : missed(`the leader kill did not hit the leader: ${hit.detail}`))
      if (hit.killed !== undefined) {
        await sleep(Math.max(0, hit.killedAt! + 5000 - Date.now()))
        await env.etcd.restart(hit.killed)
      }
      return notes
    },
  },
  {
    name: 'etcd restart during cutover',
    short: false,
    async inject(env) {
      const m = await env.waitForMove((x) => x.phase === 'promoting' || x.phase === 'verifying' || x.phase === 'cutover' || x.phase === 'release', 90_000)
      if (!m) return [missed('no move reached cutover')]
      const check = await stillRunning(env, m, 'etcd restart', ['promoting', 'verifying', 'cutover', 'release'])
      if (!check.ok) return [check.note]
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
    // No fixed wait is followed by a hard requirement: each step waits (bounded by the scenario's
    // deadline) until its skew is observably in effect (the member's wall clock is off ours and
    // its clock monitor measured it) or its effect showed (a write re-issued), and a timeout says
    // which member's skew or which effect did not land. It used to sleep 2.5-3 s and then require
    // the verdicts: on a loaded machine the monitors can take longer (FAULT MISSED with the skew
    // applied), and n2's skew was never checked at all.
    async inject(env, deadline) {
      const notes: string[] = []
      const startCap = 60_000
      const startBudget = deadline.budget(startCap)
      if (!(await env.waitForMove((x) => x.phase !== 'pending', startBudget))) throw new FaultMissed(`no move started within ${deadline.within(startBudget, startCap)}`)
      // Within the 500 ms bound (pairwise at most 450 ms apart): everyone keeps taking writes, real-time order must hold.
      const ahead = await env.restartRouterWithClock(1, 300, 'ahead')
      await env.restartNodeWithClock('n2', -150)
      // Counted from here: the restarted router's counter starts at 0, the other router's goes on.
      const before = await env.routerMetric('shardctl_router_write_reissues_total')
      const near = await waitForSkews(env, deadline, [
        {label: 'router r2-ahead', address: ahead, offsetMs: 300, inBounds: true},
        {label: 'node n2', address: env.dp.nodes.n2!.address, offsetMs: -150, inBounds: true},
      ])
      const inBoundsAt = Date.now()
      notes.push(`r2 restarted +300 ms (measured ${near.measured[0]} ms, in bounds); n2 restarted -150 ms (measured ${near.measured[1]} ms, in bounds); in effect ${near.seconds} s after the restarts`)
      // The effect: a write that lost to a newer version stamped by the faster clock is re-issued. Wait for
      // one (bounded); keep the skew at least 8 s either way, so the workload runs under it for a while.
      const reissueCap = 60_000
      const reissueBy = Date.now() + deadline.budget(reissueCap)
      let reissued = 0
      while (Date.now() < reissueBy) {
        reissued = (await env.routerMetric('shardctl_router_write_reissues_total')) - before
        if (reissued > 0 && Date.now() - inBoundsAt >= 8000) break
        await sleep(500)
      }
      if (reissued <= 0) throw new FaultMissed(`no write was re-issued above a newer version within ${((Date.now() - inBoundsAt) / 1000).toFixed(0)} s of the skew in effect (cap ${reissueCap / 1000} s, scenario deadline ${Math.round(deadline.totalMs / 1000)} s): the skew never made a write lose`)
      notes.push(`${reissued} write(s) re-issued above a newer version within ${((Date.now() - inBoundsAt) / 1000).toFixed(0)} s of the skew in effect (each would have been an acknowledged lost write before)`)
      // Beyond the bound: a router 2 s behind and a node 2 s ahead must stop taking writes; the cluster goes on without them.
      const far = await env.restartRouterWithClock(0, -2000, 'behind')
      await env.restartNodeWithClock('n3', 2000)
      const beyond = await waitForSkews(env, deadline, [
        {label: 'router r1-behind', address: far, offsetMs: -2000, inBounds: false},
        {label: 'node n3', address: env.dp.nodes.n3!.address, offsetMs: 2000, inBounds: false},
      ])
      notes.push(`r1 restarted -2 s (measured ${beyond.measured[0]} ms, refusing writes); n3 restarted +2 s (measured ${beyond.measured[1]} ms, refusing writes); in effect ${beyond.seconds} s after the restarts`)
      // Keep them out of bounds for a while (the workload's writes to r1 are refused meanwhile).
      await sleep(deadline.budget(6000))
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
SCENARIOS.push(autopilotLeaderKill())
SCENARIOS.push(splitsUnderMoves(), splitsUnderFlappingFreezes(), splitsUnderMoves({restart: true}))
/** keysOfShard lists the preloaded `bulk-<i>` keys that hash into `shard`. */
function keysOfShard(env: ChaosEnv, shard: Shard): string[] {
  const out: string[] = []
  for (let i = 0; i < env.preloaded; i++) {
    const h = keyHash(`bulk-${i}`)
    if (h >= shard.range.lo && h < shard.range.hi) out.push(`bulk-${i}`)
  }
  return out
}

/** TOMBSTONE_GRACE_S: the short tombstone grace of the leftover-copy scenario's nodes. */
const TOMBSTONE_GRACE_S = 3

/**
 * ISSUE10_SCENARIOS: issue 10's move-path scenarios, appended to {@link SCENARIOS}.
 * (c) an aborted move leaves a partial copy on a destination that is down; keys of the
 *     shard are deleted and their tombstones purged meanwhile; the destination comes back
 *     (the move ends only once its copy is dropped) and a later move puts the shard back on
 *     it: no deleted key may come back.
 * (d) routers acknowledge with `--w 1`; the source and the executor are killed mid-copy and
 *     the executor resumes while the source is down: it must wait for the source (a write
 *     acknowledged by the source alone is nowhere else), not copy from the other replicas.
 */
export const ISSUE10_SCENARIOS: Scenario[] = [
  {
    name: 'aborted move leftovers: destination SIGKILL, deletes past the grace, move back',
    short: false,
    world: {nodeExtra: ['--tombstone-grace', `${TOMBSTONE_GRACE_S}s`]},
    // Every wait below takes its budget from `deadline` (the scenario's one deadline, well inside
    // the per-test timeout): their caps add up to over 10 minutes, so on a slow run the scenario
    // must end with its own FAULT MISSED text, not as a vitest timeout that says nothing.
    async inject(env, deadline) {
      const notes: string[] = []
      const copyCap = 60_000
      const copyBudget = deadline.budget(copyCap)
      const m = await env.waitForMove(copying, copyBudget)
      if (!m) return [missed(`no copying move seen within ${deadline.within(copyBudget, copyCap)}`)]
      const dst = m.to
      await env.dp.nodes[dst]!.kill()
      const hit = await stillRunning(env, m, 'destination kill', ['copying'])
      if (!hit.ok) return [hit.note]
      notes.push(`SIGKILL destination ${dst} during ${m.id} copying (${m.progress.bytes} B copied)`)
      // The copy gives up on the dead destination and the move aborts: the shard returns to
      // its old replicas while the move itself stays `aborting` (the drop waits for dst).
      const abortCap = 90_000
      const abortBudget = deadline.budget(abortCap)
      let back: Shard | undefined
      const abortBy = Date.now() + abortBudget
      for (;;) {
        const s = (await env.dp.shards().catch(() => [])).find((x) => x.id === m.shard)
        if (s && !s.replicas.some((r) => r.node === dst)) back = s
        if (back || Date.now() >= abortBy) break
        await sleep(250)
      }
      const during = await env.move(m.id)
      if (!back || during?.phase !== 'aborting') return [...notes, missed(`${m.id} did not abort within ${deadline.within(abortBudget, abortCap)} while ${dst} was down (phase ${during?.phase ?? '?'})`)]
      notes.push(`${m.id} aborted back to ${back.replicas.map((r) => r.node).join(',')} and stays aborting while ${dst} is down`)
      // Delete the shard's preloaded keys while dst is down (each DELETE may take up to 15 s on a
      // loaded machine: stop issuing when the scenario's time runs out); wait past the tombstone grace.
      const keys = keysOfShard(env, back)
      const deleted: string[] = []
      const deletesAt = Date.now()
      for (const k of keys) {
        if (deadline.leftMs() === 0) break
        const r = await kv(env.routerAddresses()[0]!, 'DELETE', k).catch(() => undefined)
        if (r && r.status >= 200 && r.status < 300) deleted.push(k)
      }
      if (deleted.length === 0) return [...notes, missed(`no key of shard ${m.shard} could be deleted (of ${keys.length}; ${Math.round(deadline.leftMs() / 1000)} s of the scenario left)`)]
      // Wait until the live replicas purged every one of those tombstones (this workload deletes
      // nothing else; the count is per replica). A tombstone is purgeable one grace after its delete
      // and anti-entropy runs every quarter grace, so this takes about 1.5 graces idle; 10 graces
      // bound a loaded machine. A fixed sleep (grace + 4 s) could end before the purge, and the move
      // back then found tombstones in place: it proved nothing about a purged delete.
      const want = deleted.length * back.replicas.length
      const purgeCap = 10 * TOMBSTONE_GRACE_S * 1000
      const purgeBudget = deadline.budget(purgeCap)
      const purgeBy = Date.now() + purgeBudget
      let purged = purgesIn(env.dp.nodeLogs(), deletesAt).since
      while (purged < want && Date.now() < purgeBy) {
        await sleep(250)
        purged = purgesIn(env.dp.nodeLogs(), deletesAt).since
      }
      if (purged < want) return [...notes, missed(`only ${purged} of ${want} tombstones of shard ${m.shard} purged within ${deadline.within(purgeBudget, purgeCap)} (${deleted.length} keys x ${back.replicas.length} replicas)`)]
      notes.push(`deleted ${deleted.length} key(s) of shard ${m.shard} while ${dst} was down; their ${purged} tombstones were purged on the live replicas after ${((Date.now() - deletesAt) / 1000).toFixed(1)} s (grace ${TOMBSTONE_GRACE_S} s)`)
      // dst returns: the move drops its partial copy, then ends.
      await env.dp.startNode(dst)
      const endCap = 60_000
      const endBudget = deadline.budget(endCap)
      const ended = await env.waitForMove((x) => x.id === m.id && isTerminal(x.phase), endBudget)
      if (!ended) return [...notes, missed(`${m.id} did not end within ${deadline.within(endBudget, endCap)} after ${dst} came back`)]
      notes.push(ended.phase === 'aborted' ? `${m.id} ended aborted once ${dst} was back` : `${VIOLATION_PREFIX}${m.id} ended ${ended.phase} after ${dst} came back`)
      // Let the drain finish, then move the shard back onto dst: cordon every other candidate and drain n5 again.
      const drainCap = 150_000
      const drainBudget = deadline.budget(drainCap)
      await env.finishMoves(drainBudget)
      const open = (await env.moves().catch(() => [])).filter((x) => !isTerminal(x.phase))
      if (open.length > 0) return [...notes, missed(`the drain of n5 did not finish within ${deadline.within(drainBudget, drainCap)} (${open.length} move(s) open), so the shard was never moved back`)]
      const now = (await env.dp.shards()).find((x) => x.id === m.shard)!
      if (now.replicas.some((r) => r.node === dst) || !now.replicas.some((r) => r.node === m.from)) return [...notes, missed(`shard ${m.shard} changed before the move back (${now.replicas.map((r) => r.node).join(',')})`)]
      const cordon = Object.keys(env.dp.nodes).filter((n) => n !== m.from && n !== dst && !now.replicas.some((r) => r.node === n))
      const cliCap = 30_000
      for (const n of cordon) {
        const budget = deadline.budget(cliCap)
        const r = await runCli(['node', 'cordon', n, ...env.cliArgs()], {cwd: process.cwd(), timeoutMs: budget})
        if (r.code !== 0) return [...notes, missed(`could not cordon ${n} for the move back within ${deadline.within(budget, cliCap)} (exit ${r.code}: ${r.stderr.trim().slice(-200)})`)]
      }
      const backCap = 150_000
      const backBudget = deadline.budget(backCap)
      const again = env.startExecutor(['node', 'drain', m.from, '--yes', '--throttle', '256KiB/s', '--drain-timeout', '3s'])
      const againCode = await Promise.race([again.exited, sleep(backBudget).then(() => 'running' as const)])
      // Uncordoning is tidying (the moves are planned); it gets a few seconds even past the deadline, which the harness's reserve absorbs.
      for (const n of cordon) await runCli(['node', 'uncordon', n, ...env.cliArgs()], {cwd: process.cwd(), timeoutMs: Math.max(5_000, deadline.budget(cliCap))})
      const moved = (await env.dp.shards()).find((x) => x.id === m.shard)!
      if (!moved.replicas.some((r) => r.node === dst && r.role === 'voter')) return [...notes, missed(`the later move of shard ${m.shard} did not land on ${dst} within ${deadline.within(backBudget, backCap)} (${moved.replicas.map((r) => `${r.node}:${r.role}`).join(',')}); drain exit ${againCode}`)]
      notes.push(`moved shard ${m.shard} back onto ${dst}`)
      // No deleted key may come back (each GET may take 15 s on a loaded machine: a check cut short by the deadline says so).
      const router = env.routerAddresses().at(-1)!
      const resurrected: string[] = []
      let checked = 0
      for (const k of deleted) {
        if (deadline.leftMs() === 0) break
        const r = await kv(router, 'GET', k).catch(() => undefined)
        checked++
        if (r?.status === 200) resurrected.push(k)
      }
      if (checked < deleted.length && resurrected.length === 0) return [...notes, missed(`read back only ${checked} of ${deleted.length} deleted keys before the scenario's deadline (${Math.round(deadline.totalMs / 1000)} s)`)]
      notes.push(resurrected.length === 0 ? `no deleted key came back` : `${VIOLATION_PREFIX}${resurrected.length} deleted key(s) came back: ${resurrected.slice(0, 5).join(', ')}`)
      return notes
    },
  },
  {
    name: 'w=1: source + executor SIGKILL mid-copy, resume while the source is down',
    short: false,
    world: {routerExtra: ['--w', '1', '--r', '3']},
    async inject(env, deadline) {
      // Every wait takes its cap or what is left of the scenario's budget (their caps add up to 300 s).
      const moveBudget = deadline.budget(60_000)
      const m = await env.waitForMove(copying, moveBudget)
      if (!m) return [missed(`no copying move seen within ${deadline.within(moveBudget, 60_000)}`)]
      const run = env.executors.at(-1)
      await env.dp.nodes[m.from]!.kill()
      run?.kill('SIGKILL')
      await run?.exited
      const hit = await stillRunning(env, m, 'source + executor kill', ['copying'])
      if (!hit.ok) return [hit.note]
      const notes = [`SIGKILL source ${m.from} and the executor during ${m.id} copying (${m.progress.bytes} B copied)`]
      // Resume while the source is down: the copy must wait for it, saying why. Every move
      // of the drain touches the source, so lift the per-node limit: the interrupted copy
      // must be resumed now, not after the moves queued before it.
      const resumed = await startResume(env, deadline.budget(60_000), ['--max-concurrent', '16', '--per-node', '16'])
      let waited = false
      const waitUntil = Date.now() + deadline.budget(60_000)
      while (resumed && !waited && Date.now() < waitUntil) {
        waited = resumed.stdout().includes('w = 1')
        if (!waited) await sleep(200)
      }
      await env.dp.startNode(m.from)
      notes.push(waited ? `the resumed executor waited for ${m.from} (w = 1) instead of copying from the other replicas; ${m.from} restarted` : missed(`the resumed executor never had to choose a copy source with ${m.from} down`))
      const end = await env.waitForMove((x) => x.id === m.id && isTerminal(x.phase), deadline.budget(120_000))
      notes.push(`${m.id} ended ${end?.phase ?? 'not yet'}`)
      return notes
    },
  },
]
SCENARIOS.push(...ISSUE10_SCENARIOS)
