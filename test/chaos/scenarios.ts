import {type Move} from '../../src/model/move.js'
import {type ChaosEnv, type ExecutorRun} from './chaosEnv.js'
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
  /** ownAddresses: every process on its own 127.x address, with env.partition to cut traffic (partition scenarios). */
  ownAddresses?: boolean
  inject(env: ChaosEnv): Promise<string[]>
}

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
]

SCENARIOS.push(...PARTITION_SCENARIOS)
