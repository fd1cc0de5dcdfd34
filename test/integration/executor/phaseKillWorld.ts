import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleepFor} from 'node:timers/promises'
import {afterAll, beforeAll, expect, inject} from 'vitest'
import {formatHlc} from '../../../src/model/hlc.js'
import {type Move, MoveSchema, type MovePhase} from '../../../src/model/move.js'
import {readReplicas, type Shard} from '../../../src/model/shard.js'
import {checkHistory} from '../../chaos/checker.js'
import {type ChaosHistory, readFinal, runHistoryWorkload} from '../../chaos/history.js'
import {type CliChild, spawnCli} from '../../support/cliChild.js'
import {expireDeadExecutorLock} from '../../support/deadExecutorLock.js'
import {type CliResult, runCli} from '../../support/runCli.js'
import {expectDigestsAgree, waitForHintsDrained} from '../../support/workloadChecks.js'
import {DataPlane, keyFor, kv, waitFor} from '../router/dataPlane.js'
import {type RouterProcess} from '../router/routerProcess.js'

/**
 * FORWARD_PHASES are the phases a move that is not cancelled passes through, in order: every
 * boundary between two of them is a point at which a phase-kill test stops a party (the
 * executor commits each in its own fenced transaction, src/executor/moveMachine.ts).
 */
export const FORWARD_PHASES = ['pending', 'checked', 'joining', 'copying', 'promoting', 'verifying', 'cutover', 'release', 'draining', 'cleanup', 'done'] as const satisfies readonly MovePhase[]

/** PhaseBoundary names a stop: `before` the executor commits `phase`, or `after` etcd acknowledged it. */
export interface PhaseBoundary {
  when: 'before' | 'after'
  phase: MovePhase
}

/** faultEnv is the executor environment that makes it signal itself at `b` (src/executor/phaseFault.ts). */
export function faultEnv(b: PhaseBoundary, action: 'kill' | 'stop'): Record<string, string> {
  return {SHARDCTL_TEST_PHASE_FAULT: `${b.when}:${b.phase}:${action}`}
}

/** storedPhaseAt is the phase etcd holds while the executor is stopped at `b`: the one before `b.phase` when stopped before it. */
export function storedPhaseAt(b: PhaseBoundary): MovePhase {
  if (b.when === 'after') return b.phase
  const i = FORWARD_PHASES.indexOf(b.phase as (typeof FORWARD_PHASES)[number])
  if (i <= 0) throw new Error(`no forward phase before ${b.phase}`)
  return FORWARD_PHASES[i - 1]!
}

/** processStopped tells whether `pid` is stopped (SIGSTOP: state T in /proc). */
function processStopped(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T')
  } catch {
    return false
  }
}

const VALUE = 'p'.repeat(512)

/**
 * PhaseKillWorld is one phase-kill test file's cluster on the shared etcd (real node and
 * router processes from dist/, two routers), with what its cases share: recording a move,
 * running `apply --resume` with a phase fault, taking over after a kill, a recorded client
 * load (writes, deletes, reads through both routers) and the checks every case ends with.
 */
export class PhaseKillWorld {
  readonly dp: DataPlane
  readonly cwd = mkdtempSync(join(tmpdir(), 'shardctl-phase-kill-'))
  routers: RouterProcess[] = []
  private readonly children: CliChild[] = []

  constructor(endpoint: string, label: string) {
    this.dp = new DataPlane(endpoint, label)
  }

  /** start creates the cluster, starts its nodes and two routers, and fills every shard with `perShard` values so a copy has work. */
  async start(nodes: number, shards: number, rf: number, perShard = 150): Promise<void> {
    await this.dp.init(nodes, shards, rf)
    this.routers = [await this.dp.startRouter('r1'), await this.dp.startRouter('r2')]
    for (const s of await this.dp.shards()) {
      const keys = Array.from({length: perShard}, (_, i) => keyFor(s, `fill-${s.id}-${i}`))
      const deleted = new Set(keys.filter((_, i) => i % 5 === 0))
      for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => this.acknowledged('PUT', k, `${VALUE}-${k}`)))
      // Every fifth one deleted again: a move must carry the tombstone, never bring the value back.
      await Promise.all([...deleted].map((k) => this.acknowledged('DELETE', k)))
      for (const k of keys) this.filled.set(k, deleted.has(k) ? null : `${VALUE}-${k}`)
    }
  }

  /** acknowledged writes (or deletes) `key` through the first router until acknowledged (bounded: a router just started, or re-reading the shard map, on a loaded machine answers 503 for a while). */
  private async acknowledged(method: 'PUT' | 'DELETE', key: string, value?: string): Promise<void> {
    let last = ''
    for (let attempt = 0; attempt < 20; attempt++) {
      const r = await kv(this.routers[0]!.address, method, key, value).catch((err: Error) => ({status: 0, body: Buffer.from(err.message)}))
      if (r.status >= 200 && r.status < 300) return
      last = `${r.status} ${r.body.toString().slice(0, 200)}`
      await sleepFor(500)
    }
    throw new Error(`preloading: ${method} ${key} was not acknowledged in 20 attempts: ${last}`)
  }

  /**
   * filled is what start() wrote and deleted before any move (null: deleted), never written
   * again: the client load rewrites its own keys so often that a destination missing what
   * the source held before the move would go unseen without these.
   */
  readonly filled = new Map<string, string | null>()

  /**
   * answered reads `key` until a router answers with data (200 or 404), bounded: a router
   * re-reading the shard map answers 503 NOT_SERVING for a while on a loaded machine, which
   * is no answer about the key. Returns the last response.
   */
  private async answered(key: string): Promise<{status: number; body: Buffer}> {
    let r: {status: number; body: Buffer} = {status: 0, body: Buffer.from('no attempt')}
    for (let attempt = 0; attempt < 20; attempt++) {
      const live = this.routers.filter((x) => !x.gone())
      r = await kv(live[attempt % live.length]!.address, 'GET', key).catch((err: Error) => ({status: 0, body: Buffer.from(err.message)}))
      if (r.status === 200 || r.status === 404) return r
      await sleepFor(500)
    }
    return r
  }

  /** expectFillIntact reads every key start() wrote back through a router: its value, or 404 for a deleted one. */
  async expectFillIntact(label: string): Promise<void> {
    const keys = [...this.filled.keys()]
    const wrong: string[] = []
    for (let i = 0; i < keys.length; i += 50) {
      await Promise.all(keys.slice(i, i + 50).map(async (k) => {
        const r = await this.answered(k)
        const want = this.filled.get(k)
        if (want === null ? r.status !== 404 : r.status !== 200 || r.body.toString() !== want) wrong.push(`${k}: ${r.status} ${r.body.toString().slice(0, 40)} (want ${want === null ? 'deleted' : 'its value'})`)
      }))
    }
    expect(wrong, `${label}: ${wrong.length} of ${keys.length} preloaded keys read back wrong: ${wrong.slice(0, 5).join('; ')}`).toEqual([])
  }

  /** teardown kills every child this world started, then the cluster's processes. */
  async teardown(): Promise<void> {
    await Promise.all(this.children.map((c) => c.kill()))
    await this.dp.teardown()
    rmSync(this.cwd, {recursive: true, force: true})
  }

  conn(): string[] {
    return ['--endpoints', this.dp.endpoint, '--cluster', this.dp.cluster]
  }

  async moveOf(id: string): Promise<Move | undefined> {
    return (await this.dp.ctx.store.getTyped(this.dp.ctx.keys.move(id), MoveSchema))?.value
  }

  /** recordMove writes a pending move of `shard` from its first voter to `to` (as `apply` records one); `apply --resume` runs it. */
  async recordMove(id: string, shard: Shard, to: string): Promise<Move> {
    const at = new Date().toISOString()
    const move: Move = {id, plan: 'by-hand', index: 0, shard: shard.id, from: shard.replicas[0]!.node, to, baseEpoch: shard.epoch, epoch: shard.epoch, phase: 'pending', progress: {bytes: 0, keys: 0, totalBytes: 0, rateBytesPerSec: 0, dataRateBytesPerSec: 0, cursor: null, stalled: false}, cancelRequested: false, rollbackRequested: false, reason: null, attempts: 0, createdAt: at, updatedAt: at, cutoverAt: null, copyStartedAt: null}
    await this.dp.ctx.store.put(this.dp.ctx.keys.move(id), JSON.stringify(move))
    return move
  }

  /** moveTarget picks the case's shard (round robin on `n`) and a node that does not hold it. */
  async moveTarget(n: number): Promise<{shard: Shard; to: string}> {
    const shards = await this.dp.shards()
    const shard = shards[n % shards.length]!
    const held = new Set(shard.replicas.map((r) => r.node))
    const free = Object.keys(this.dp.ports).filter((id) => !held.has(id))
    return {shard, to: free[n % free.length]!}
  }

  /** apply starts `apply --resume` (the rate keeps a copy of the fill under a second), with `env` (a phase fault). */
  apply(env: Record<string, string> = {}): CliChild {
    const c = spawnCli(['apply', '--resume', '--yes', '--throttle', '4MiB/s', '--chunk-size', '16KiB', '--drain-timeout', '5s', ...this.conn()], env)
    this.children.push(c)
    return c
  }

  /** waitStopped waits until `c` stopped itself (its phase fault with `stop`), failing with its output if it exited instead. */
  async waitStopped(c: CliChild, what: string): Promise<void> {
    await waitFor(async () => {
      if (c.gone()) throw new Error(`the executor exited instead of stopping ${what}: ${c.stdout()}${c.logs()}`.slice(-3000))
      return processStopped(c.pid) ? true : undefined
    }, `the executor to stop itself ${what}`, 60_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${(c.stdout() + c.logs()).slice(-3000)}`)
    })
  }

  /**
   * finish runs the move to a terminal phase the way an operator does after a crash: the dead
   * executor's lock expired (what its lease's TTL does), then `apply --resume` until the move
   * is terminal (bounded: a run that lost its lease to a long freeze is followed by another).
   */
  async finish(id: string): Promise<Move> {
    for (let run = 0; run < 3; run++) {
      await expireDeadExecutorLock(this.dp.ctx)
      const r = await runCli(['apply', '--resume', '--yes', '--throttle', '4MiB/s', '--drain-timeout', '5s', ...this.conn()], {cwd: this.cwd, timeoutMs: 60_000})
      const m = await this.moveOf(id)
      if (m && ['done', 'aborted', 'rolledback', 'failed', 'skipped'].includes(m.phase)) return m
      console.info(`takeover run ${run} left move ${id} ${m?.phase} (exit ${r.code}): ${r.stderr.slice(-800)}`)
    }
    throw new Error(`move ${id} did not finish after three takeovers: ${JSON.stringify(await this.moveOf(id))}`)
  }

  /** load starts a recorded client load (keys under `prefix`, writes, deletes and reads through both routers), bounded in count and time. */
  load(prefix: string, maxOps = 1500): {stop: AbortController; history: Promise<ChaosHistory>} {
    const stop = new AbortController()
    const history = runHistoryWorkload({routers: () => this.routers.filter((r) => !r.gone()).map((r) => r.address), workers: 3, keysPerWorker: 12, maxOps, maxMs: 60_000, stop: stop.signal, deleteEvery: 4, keyPrefix: prefix, requestTimeoutMs: 5000})
    return {stop, history}
  }

  /**
   * expectIntact ends a case: the load stopped, the routers' hints drained, every key of the
   * history read back through a router and checked (no acknowledged write lost, no stale or
   * phantom read, real-time order, no deleted key back), the replicas of every shard agree,
   * the keys written (and deleted) before any move read back as they were left, and every
   * node serves exactly what the shard map in etcd says (shard, epoch and role).
   */
  async expectIntact(load: {stop: AbortController; history: Promise<ChaosHistory>}, label: string): Promise<void> {
    load.stop.abort()
    const history = await load.history
    for (const r of this.routers.filter((x) => !x.gone())) await waitForHintsDrained(r.address)
    const keys = new Set(history.ops.map((o) => o.key))
    const finals = await readFinal(this.routers[0]!.address, keys)
    const report = checkHistory(history.ops, finals)
    const anomalies = [...report.lostWrites, ...report.staleReads, ...report.phantomReads]
    expect(anomalies, `${label}: ${JSON.stringify(anomalies.slice(0, 5))}`).toEqual([])
    expect(report.writesAcked, `${label}: too few acknowledged writes`).toBeGreaterThan(20)
    const shards = await this.dp.shards()
    await expectDigestsAgree(this.dp, shards)
    await this.expectFillIntact(label)
    await this.expectNodesServeMap(shards)
    console.info(`${label}: ${report.operations} ops, ${report.writesAcked} writes acked, ${report.writesUnknown} unknown, ${report.readsOk} reads ok, ${report.readsFailed} failed`)
  }

  /** expectNodesServeMap waits (bounded) until every node reports exactly the shards, epochs and roles the map gives it. */
  async expectNodesServeMap(shards: readonly Shard[]): Promise<void> {
    const want = (node: string) =>
      shards
        .flatMap((s) => s.replicas.filter((r) => r.node === node).map((r) => `${s.id}@${s.epoch}:${r.role}`))
        .sort()
        .join(' ')
    let last = ''
    await waitFor(async () => {
      const seen: string[] = []
      for (const id of Object.keys(this.dp.ports)) {
        const st = await this.dp.client(id).stats()
        const got = st.shards.map((s) => `${s.shard}@${s.epoch}:${s.role}`).sort().join(' ')
        if (got !== want(id)) seen.push(`${id}: serves [${got}], map says [${want(id)}]`)
      }
      last = seen.join('; ')
      return seen.length === 0 ? true : undefined
    }, 'every node to serve the shard map', 20_000).catch(() => expect.fail(`nodes disagree with the shard map: ${last}`))
  }

  /** expectMoveEnded checks the move's end state in etcd against the shard: done (destination a voter, source gone) or aborted (shard back on its old set). */
  async expectMoveEnded(move: Move, outcomes: readonly MovePhase[]): Promise<Move> {
    const m = (await this.moveOf(move.id))!
    expect(outcomes, `move ${move.id} ended ${m.phase}: ${m.reason}`).toContain(m.phase)
    const shard = (await this.dp.shards()).find((s) => s.id === move.shard)!
    const roles = shard.replicas.map((r) => r.role)
    expect(roles.every((r) => r === 'voter'), JSON.stringify(shard.replicas)).toBe(true)
    const nodes = readReplicas(shard)
    if (m.phase === 'done') expect(nodes.includes(move.to) && !nodes.includes(move.from), JSON.stringify(shard.replicas)).toBe(true)
    else expect(nodes.includes(move.from) && !nodes.includes(move.to), JSON.stringify(shard.replicas)).toBe(true)
    return m
  }

  /**
   * writeOnSourceAndDestination puts one record (key named by `label`) on `from` and `to` alone at `shard`'s epoch, as a
   * `--w 1` router's joint quorum of one old and one new replica would acknowledge it, and checks no other voter has it.
   * Returns its key and those other voters.
   */
  async writeOnSourceAndDestination(shard: Shard, from: string, to: string, label: string, value: string): Promise<{key: string; others: string[]}> {
    const key = keyFor(shard, label)
    const record = {key: Buffer.from(key), version: formatHlc({wall: Date.now(), counter: 0, writer: `${label}-test`}), value: Buffer.from(value)}
    for (const n of [from, to]) await this.dp.client(n).apply(shard.id, shard.epoch, [record])
    const others = shard.replicas.filter((r) => r.role === 'voter' && r.node !== from).map((r) => r.node)
    for (const n of others) expect((await this.dp.client(n).get(shard.id, shard.epoch, key)).record).toBeUndefined()
    return {key, others}
  }

  /** killForGood SIGKILLs node `id`, removes its data dir (it never comes back) and waits for its lease to expire. */
  async killForGood(id: string): Promise<void> {
    this.dp.nodes[id]!.signal('SIGKILL')
    await this.dp.nodes[id]!.exited
    rmSync(this.dp.dataDirs[id]!, {recursive: true, force: true})
    await this.leaseGone(id)
  }

  /** leaseGone waits (bounded) until node `id`'s `alive/<id>` lease key is gone. */
  async leaseGone(id: string): Promise<void> {
    await waitFor(async () => ((await this.dp.ctx.store.get(this.dp.ctx.keys.alive(id))) ? undefined : true), `${id}'s lease to expire`, 30_000)
  }

  /** restartRouter SIGKILLs router `i` and starts a new one in its place (a new address: the load follows `routers`). */
  async restartRouter(i: number): Promise<void> {
    const old = this.routers[i]!
    await old.kill()
    this.routers[i] = await this.dp.startRouter(`r${i + 1}`)
  }
}

/** Party is who is SIGKILLed at a boundary while the executor holds still there. */
export type Party = 'source' | 'destination' | 'router'

/**
 * killExecutorAround runs one case of the executor kills: the move's executor is SIGKILLed right
 * before it commits `phase`, a fresh one right after it committed it, then a third finishes
 * the move; the case's checks follow (see phaseKillExecutor.*.test.ts).
 */
export async function killExecutorAround(w: PhaseKillWorld, phase: MovePhase, n: number): Promise<void> {
  const {shard, to} = await w.moveTarget(n)
  const id = `exec-${phase}`
  const load = w.load(`${id}-`)
  try {
    const move = await w.recordMove(id, shard, to)
    for (const when of ['before', 'after'] as const) {
      const killed = w.apply(faultEnv({when, phase}, 'kill'))
      const code = await killed.exited
      expect(code, `killed ${when} ${phase}: ${(killed.stdout() + killed.logs()).slice(-2000)}`).toBe('SIGKILL')
      expect((await w.moveOf(id))?.phase, `killed ${when} ${phase}`).toBe(storedPhaseAt({when, phase}))
      await expireDeadExecutorLock(w.dp.ctx)
    }
    await w.finish(id)
    await w.expectMoveEnded(move, ['done'])
  } finally {
    load.stop.abort()
  }
  await w.expectIntact(load, `executor killed before and after ${phase}`)
}

/**
 * killPartyAt runs one case of the node and router kills: the executor stops itself (SIGSTOP)
 * right after etcd acknowledged `phase`; `party` is SIGKILLed there, the executor continued
 * (SIGCONT: well inside its 10 s lease) and the party restarted (a node on its data dir, a
 * router anew); the move then ends `done`, or aborted cleanly when the move cannot wait for a
 * node it needs (a destination promoted at rf 1), and the case's checks follow.
 */
export async function killPartyAt(w: PhaseKillWorld, party: Party, phase: MovePhase, n: number): Promise<void> {
  const {shard, to} = await w.moveTarget(n)
  const id = `${party}-${phase}`
  const load = w.load(`${id}-`)
  let exec: CliChild | undefined
  try {
    const move = await w.recordMove(id, shard, to)
    exec = w.apply(faultEnv({when: 'after', phase}, 'stop'))
    await w.waitStopped(exec, `after ${phase}`)
    expect((await w.moveOf(id))?.phase).toBe(phase)
    const victim = party === 'source' ? move.from : party === 'destination' ? move.to : undefined
    if (victim) await w.dp.nodes[victim]!.kill()
    else await w.routers[0]!.kill()
    exec.signal('SIGCONT')
    if (victim) await w.dp.startNode(victim)
    // Under a new id: the killed r1's registration lives until its lease expires, and a router refuses an id another live one holds.
    else w.routers[0] = await w.dp.startRouter(`r1-${phase}`)
    const code = await Promise.race([exec.exited, sleepFor(60_000).then(() => 'still running')])
    if (code !== 0) console.info(`executor after ${party} killed after ${phase} exited ${code}: ${(exec.stdout() + exec.logs()).slice(-1500)}`)
    await w.finish(id)
    const ended = await w.expectMoveEnded(move, party === 'router' ? ['done'] : ['done', 'aborted'])
    console.info(`${party} killed after ${phase}: move ${ended.phase}${ended.reason ? ` (${ended.reason})` : ''}`)
  } finally {
    await exec?.kill()
    load.stop.abort()
  }
  await w.expectIntact(load, `${party} killed after ${phase}`)
}

/**
 * PhaseKillSuite is what phaseKillSuite gives a test file: its world (started before its first
 * case), the CLI run against it, and data dirs of its own that teardown removes.
 */
export interface PhaseKillSuite {
  /** world is the file's PhaseKillWorld; read it inside a case (it is made in beforeAll). */
  readonly world: PhaseKillWorld
  /** cli runs `shardctl` with the world's connection flags, in its cwd, bounded to 30 s. */
  cli(args: string[]): Promise<CliResult>
  /** emptyDir makes an empty data dir (named after `prefix`) that the file's afterAll removes. */
  emptyDir(prefix: string): string
  /**
   * stopThenRestartEmpty records move `id` of the world's shard to its free node, runs `apply
   * --resume` until it stops itself at `at` (its phase fault with `stop`), kills it, hands the
   * move as it is stored then to `whileStopped` (the case's checks of where it stopped), restarts
   * the destination on an empty dir (`--accept-empty-data`) and expires the dead executor's lock:
   * the start of every case on a destination restarted empty mid-move. Returns the move recorded.
   */
  stopThenRestartEmpty(id: string, at: PhaseBoundary, whileStopped: (stored: Move) => void): Promise<Move>
}

/**
 * phaseKillSuite registers the beforeAll that starts test file `name`'s PhaseKillWorld (2 nodes,
 * 1 shard, rf 1, 30 values: a move whose only other copy is its source; `size` sets other node counts and rf) and the afterAll that
 * tears it down and removes the dirs made with emptyDir: the set-up the files on a lone source
 * (abandonSource, destinationLostAfterDrop) had each written out.
 */
export function phaseKillSuite(name: string, size: {nodes: number; rf: number} = {nodes: 2, rf: 1}): PhaseKillSuite {
  let w: PhaseKillWorld | undefined
  const dirs: string[] = []
  beforeAll(async () => {
    w = new PhaseKillWorld(inject('etcdEndpoint'), name)
    await w.start(size.nodes, 1, size.rf, 30)
  }, 120_000)
  afterAll(async () => {
    await w?.teardown()
    for (const d of dirs) rmSync(d, {recursive: true, force: true})
  })
  const emptyDir = (prefix: string): string => {
    const d = mkdtempSync(join(tmpdir(), prefix))
    dirs.push(d)
    return d
  }
  const world = (): PhaseKillWorld => {
    if (!w) throw new Error(`phase-kill world ${name} is not started (read it inside a case)`)
    return w
  }
  return {
    get world() {
      return world()
    },
    cli: (args) => runCli([...args, ...world().conn()], {cwd: world().cwd, timeoutMs: 30_000}),
    emptyDir,
    stopThenRestartEmpty: async (id, at, whileStopped) => {
      const w = world()
      const {shard, to} = await w.moveTarget(0)
      const move = await w.recordMove(id, shard, to)
      const stopped = w.apply(faultEnv(at, 'stop'))
      await w.waitStopped(stopped, `${at.when} ${at.phase}`)
      await stopped.kill()
      whileStopped((await w.moveOf(move.id))!)
      await w.dp.nodes[to]!.kill()
      w.dp.dataDirs[to] = emptyDir(`shardctl-${id}-`)
      await w.dp.startNode(to, undefined, ['--accept-empty-data'])
      await expireDeadExecutorLock(w.dp.ctx)
      return move
    },
  }
}

/** W1Suite is a file's w = 1 world: rf 3 over 4 nodes, one shard of 30 keys, and a `--w 1` router beside the world's own. */
export interface W1Suite {
  readonly world: PhaseKillWorld
  /** w1 is the `--w 1` router (it sets the cluster's write floor to 1). */
  readonly w1: RouterProcess
  cli(args: string[]): Promise<CliResult>
}

/**
 * w1Suite registers the file's beforeAll/afterAll for a {@link W1Suite} named `name` (the real-process tests of a move
 * whose source is gone for good at w = 1: sourceGoneAtW1, rollbackSourceGoneAtW1).
 */
export function w1Suite(name: string): W1Suite {
  let w: PhaseKillWorld | undefined
  let router: RouterProcess | undefined
  beforeAll(async () => {
    w = new PhaseKillWorld(inject('etcdEndpoint'), name)
    await w.start(4, 1, 3, 30)
    router = await w.dp.startRouter('rw1', ['--w', '1'])
  }, 120_000)
  afterAll(async () => {
    await w?.teardown()
  })
  const started = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error(`w = 1 world ${name} is not started (read it inside a case)`)
    return v
  }
  return {
    get world() {
      return started(w)
    },
    get w1() {
      return started(router)
    },
    cli: (args) => runCli([...args, ...started(w).conn()], {cwd: started(w).cwd, timeoutMs: 30_000}),
  }
}
