import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {autopilotKeys, AutopilotStateSchema, type DecisionRecord} from '../../src/autopilot/autopilotState.js'
import {parseLockHolder} from '../../src/etcd/leaseLock.js'
import {isTerminal, type Move} from '../../src/model/move.js'
import {type ChaosEnv, type ExecutorRun} from './chaosEnv.js'
import {missed, type Scenario, VIOLATION_PREFIX} from './scenarios.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** DEAD is the node the scenario kills for good (about 14 of the 72 replicas at 24 shards). */
const DEAD = 'n5'
/** RF is the chaos world's replication factor. */
const RF = 3

/**
 * Autopilot flags of the scenario: a short --dead-after and lease so the run stays near a
 * minute; the heal copies at the drain scenarios' 48 KiB/s in 4 KiB chunks so the leader is
 * found mid-copy on any machine; a rebalance trigger no load reaches, so healing is the story.
 */
const PILOT = ['--interval', '1s', '--lease-ttl', '3s', '--dead-after', '5s', '--heal-throttle', '48KiB/s', '--chunk-size', '4KiB', '--max-concurrent', '3', '--per-node', '3', '--rebalance-above', '50']

/** bounded polls `probe` every 250 ms until it returns a value, or gives up after `timeoutMs` (undefined). */
async function bounded<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const v = await probe().catch(() => undefined)
    if (v !== undefined) return v
    await sleep(250)
  }
  return undefined
}

async function leader(env: ChaosEnv): Promise<string | null> {
  const kv = await env.dp.ctx.store.get(autopilotKeys(env.dp.ctx.keys.prefix).lock)
  return kv ? (parseLockHolder(kv.value)?.holder ?? null) : null
}

async function decisions(env: ChaosEnv): Promise<DecisionRecord[]> {
  return (await env.dp.ctx.store.getTyped(autopilotKeys(env.dp.ctx.keys.prefix).state, AutopilotStateSchema))?.value.decisions ?? []
}

/** healed: every shard has rf voters, none on the dead node, and no replica in another role. */
async function healed(env: ChaosEnv, rf: number): Promise<boolean> {
  const shards = await env.dp.shards()
  return shards.every((s) => s.replicas.length === rf && s.replicas.every((r) => r.role === 'voter' && r.node !== DEAD))
}

/**
 * autopilotLeaderKill: issue 18's chaos scenario. No drain: two `shardctl autopilot`
 * processes (a1 leads, a2 stands by) watch the cluster while the recorded workload runs.
 * n5 is SIGKILLed and never restarted during the run; after --dead-after a1 marks it
 * draining and re-creates its replicas from the survivors; while a heal move copies, a1 is
 * SIGKILLed. a2 must take over within the lease TTL, wait for the dead executor's lock to
 * lapse, resume, and restore rf 3 for every shard without n5 — with the suite's usual
 * checks after: no lost, stale or phantom operation, replicas converged, no move unfinished.
 * (The suite restarts every dead process before its final repair; n5 then holds nothing.)
 */
export function autopilotLeaderKill(): Scenario {
  let held: number[] = []
  let interrupted: Move | undefined
  let plansDir = ''
  return {
    name: 'autopilot leader SIGKILL mid-heal (node lost for good, standby finishes)',
    short: false,
    ownsMoves: true,
    async inject(env) {
      const notes: string[] = []
      plansDir = mkdtempSync(join(tmpdir(), 'shardctl-chaos-autopilot-'))
      const pilot = (id: string): ExecutorRun => env.startExecutor(['autopilot', '--id', id, '--plans-dir', plansDir, ...PILOT])
      try {
        const a1 = pilot('a1')
        if ((await bounded(async () => ((await leader(env)) === 'autopilot a1' ? true : undefined), 60_000)) === undefined) throw new Error(`a1 never led: ${a1.stderr().slice(-400)}`)
        const a2 = pilot('a2')
        if ((await bounded(async () => (a2.stderr().includes('standing by') ? true : undefined), 60_000)) === undefined) throw new Error(`a2 never stood by: ${a2.stderr().slice(-400)}`)

        held = (await env.dp.shards()).filter((s) => s.replicas.some((r) => r.node === DEAD)).map((s) => s.id)
        await env.dp.nodes[DEAD]!.kill()
        const killedNodeAt = Date.now()
        notes.push(`SIGKILL ${DEAD} for good (held ${held.length} shards); autopilot a1 leads, a2 stands by`)

        // a1 heals after --dead-after; kill it while a heal move copies (bytes moved, not finished).
        interrupted = await env.waitForMove((m) => m.from === DEAD && m.phase === 'copying' && m.progress.bytes > 0, 90_000)
        if (!interrupted) {
          notes.push(missed(`no heal move of ${DEAD} was copying within 90 s (a1: ${a1.stderr().slice(-300)})`))
          return notes
        }
        a1.kill('SIGKILL')
        await a1.exited
        const still = await env.move(interrupted.id)
        if (!still || isTerminal(still.phase)) notes.push(missed(`${interrupted.id} was ${still?.phase ?? 'gone'} right after the leader's SIGKILL`))
        else notes.push(`SIGKILL leader a1 ${Math.round((Date.now() - killedNodeAt) / 1000)} s after the node, with ${interrupted.id} (shard ${interrupted.shard}) ${still.phase} at ${still.progress.bytes} B`)
        await env.markResumed()

        const killedAt = Date.now()
        if ((await bounded(async () => ((await leader(env)) === 'autopilot a2' ? true : undefined), 60_000)) === undefined) {
          notes.push(`${VIOLATION_PREFIX}standby a2 did not take over within 60 s: ${a2.stderr().slice(-400)}`)
          return notes
        }
        notes.push(`a2 leads ${Math.round((Date.now() - killedAt) / 1000)} s after (lease TTL 3 s)`)
        if ((await bounded(async () => ((await healed(env, RF)) ? true : undefined), 180_000)) === undefined) {
          notes.push(`${VIOLATION_PREFIX}rf ${RF} not restored without ${DEAD} within 180 s of the take-over: ${a2.stderr().slice(-400)}`)
          return notes
        }
        notes.push(`rf ${RF} restored without ${DEAD} ${Math.round((Date.now() - killedAt) / 1000)} s after the leader's SIGKILL`)
        // Its outcome is recorded a moment after the map is whole; then stop the standby cleanly.
        await bounded(async () => ((await decisions(env)).some((d) => d.kind === 'resume' && d.outcome !== null) ? true : undefined), 60_000)
        a2.kill('SIGTERM')
        await Promise.race([a2.exited, sleep(15_000).then(() => a2.kill('SIGKILL'))])
        return notes
      } finally {
        rmSync(plansDir, {recursive: true, force: true})
      }
    },
    async proveLanded(env) {
      const problems: string[] = []
      const moves = await env.moves()
      const ofDead = moves.filter((m) => m.from === DEAD)
      const healedShards = [...new Set(ofDead.filter((m) => m.phase === 'done').map((m) => m.shard))].sort((a, b) => a - b)
      if (held.length === 0) problems.push(`${DEAD} held no shard`)
      if (JSON.stringify(healedShards) !== JSON.stringify([...held].sort((a, b) => a - b))) problems.push(`healed shards ${healedShards.join(',')} are not the ${held.length} ${DEAD} held (${held.join(',')})`)
      if (!interrupted) problems.push('no heal move was interrupted')
      else if (moves.find((m) => m.id === interrupted!.id)?.phase !== 'done') problems.push(`the interrupted move ${interrupted.id} did not finish`)
      const all = await decisions(env)
      const heal = all.find((d) => d.kind === 'heal' && d.reason.includes(`node ${DEAD} down`))
      const resume = all.find((d) => d.kind === 'resume' && d.outcome !== null)
      if (!heal) problems.push('no heal decision recorded')
      if (!resume) problems.push('the standby recorded no finished resume')
      else if (!/done/.test(resume.outcome ?? '')) problems.push(`the resume ended: ${resume.outcome}`)
      if (!(await healed(env, RF))) problems.push(`the shard map is not at rf ${RF} without ${DEAD}`)
      return {problems, note: `${healedShards.length} shards healed off ${DEAD}; heal: ${heal?.reason ?? '-'}; resume: ${resume?.outcome ?? '-'}`}
    },
  }
}
