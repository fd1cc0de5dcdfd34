import {type ChildProcess, spawn} from 'node:child_process'
import {type Move, MoveSchema, isTerminal} from '../../src/model/move.js'
import {readReplicas} from '../../src/model/shard.js'
import {agreedDigests, initialCutoff} from '../../src/repair/agreedCutoff.js'
import {DataPlane, kv} from '../integration/router/dataPlane.js'
import {skewedClock} from '../support/faketime.js'
import {type RouterProcess} from '../integration/router/routerProcess.js'
import {trackPid, untrackPid} from '../support/processReaper.js'
import {CLI_BIN, runCli} from '../support/runCli.js'
import {setClusterSecurity} from '../../src/security/clusterSecurity.js'
import {setDefaultClientTls} from '../../src/transport/clientTls.js'
import {loadTlsMaterial} from '../../src/transport/tlsMaterial.js'
import {dataPlaneFetch} from '../support/dataPlaneFetch.js'
import {DataPlanePki, tlsEnvOf} from '../support/dataPlanePki.js'
import {type ClockReading, type MemberHealth} from './clockSkew.js'
import {EtcdCluster} from './etcdCluster.js'
import {Partition} from './partition.js'

const BIND_SOURCE = new URL('./bindSource.cjs', import.meta.url).pathname

/**
 * AddressPlan gives every process of a partition scenario its own loopback address (Linux
 * routes all of 127/8 to lo) in a block picked from the runner's pid, so concurrent runs do
 * not share addresses: etcd members .11-.13, nodes n<k> .2k, routers r<k> .3k, the executor
 * .41. The test runner itself stays on 127.0.0.1 and is never cut. Children get
 * bindSource.cjs preloaded, so their connections leave from their own address too.
 */
export class AddressPlan {
  constructor(readonly prefix: string) {}

  /** forRun picks this run's block, 127.<50..249>.0.x. */
  static forRun(): AddressPlan {
    return new AddressPlan(`127.${50 + (process.pid % 200)}.0.`)
  }

  /** etcd lists the members' addresses. */
  etcd(size: number): string[] {
    return Array.from({length: size}, (_, i) => `${this.prefix}${11 + i}`)
  }

  /** of is the address of process `id` (n1.., r1.., executor). */
  of(id: string): string {
    if (id === 'executor') return `${this.prefix}41`
    const m = /^([nr])(\d)$/.exec(id)
    if (!m) throw new Error(`no address planned for ${id}`)
    return `${this.prefix}${(m[1] === 'n' ? 20 : 30) + Number(m[2])}`
  }

  /** env makes process `id` send from its own address. */
  env(id: string): Record<string, string> {
    return {NODE_OPTIONS: `--require ${BIND_SOURCE}`, CHAOS_SOURCE_ADDRESS: this.of(id)}
  }
}

/** ExecutorRun is one `shardctl node drain|apply` child: its pid, output and exit. */
export interface ExecutorRun {
  pid: number
  exited: Promise<number>
  stdout(): string
  stderr(): string
  kill(sig?: NodeJS.Signals): void
}

/** MoveCounts are a scenario's move outcomes, read from etcd at the end. */
export interface MoveCounts {
  /** abortReasons: why each aborted or failed move ended so. */
  abortReasons: string[]
  total: number
  completed: number
  retried: number
  aborted: number
  unfinished: number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * ChaosEnv is one scenario's world: a 3-member etcd cluster, `nodes` storage nodes
 * (n1..nN, rf 3) and two routers, all on 127.0.0.1, plus the executor children it starts.
 * Everything is killed and removed by dispose(); a crashed runner kills children by pid.
 */
export class ChaosEnv {
  readonly executors: ExecutorRun[] = []
  /** resumedMoves: moves a later executor found unfinished (the previous one died or stopped mid-move). */
  readonly resumedMoves = new Set<string>()
  /** addresses and partition exist when the scenario asked for its own addresses (partition scenarios). */
  addresses?: AddressPlan
  partition?: Partition
  /** pki exists in TLS mode (CHAOS_TLS=1): every hop is TLS, the cluster TLS-only. */
  pki?: DataPlanePki
  /** executorEnv is the TLS environment of CLI children that dial nodes (executors, repair); empty in plaintext. */
  executorEnv: Record<string, string> = {}
  private constructor(
    readonly etcd: EtcdCluster,
    readonly dp: DataPlane,
  ) {}

  /** preloaded is how many `bulk-<i>` keys start() wrote (i in 0..preloaded-1). */
  preloaded = 0

  /**
   * start brings up etcd (3 members), the nodes, two routers, and preloads `preloadKeys`
   * values of `preloadValueBytes` (default 1 KiB). `nodeArgs` / `routerExtra` are extra
   * flags for every node (re)start and both routers; `ownAddresses` puts every process on
   * its own 127.x address (partition scenarios).
   */
  static async start(label: string, opts: {nodes: number; shards: number; rf: number; preloadKeys: number; preloadValueBytes?: number; nodeArgs?: string[]; routerExtra?: string[]; ownAddresses?: boolean; tls?: boolean}): Promise<ChaosEnv> {
    const addresses = opts.ownAddresses ? AddressPlan.forRun() : undefined
    const etcd = await EtcdCluster.start(3, addresses?.etcd(3))
    let dp: DataPlane | undefined
    let partition: Partition | undefined
    let pki: DataPlanePki | undefined
    const tlsEnv: Record<string, Record<string, string>> = {}
    let executorEnv: Record<string, string> = {}
    try {
      dp = new DataPlane(etcd.endpoints, `chaos-${label}`)
      dp.nodeArgs = opts.nodeArgs ?? []
      if (addresses) {
        for (let i = 1; i <= opts.nodes; i++) dp.hosts[`n${i}`] = addresses.of(`n${i}`)
        for (const r of ['r1', 'r2']) dp.hosts[r] = addresses.of(r)
        partition = Partition.create()
      }
      if (opts.tls) {
        // One CA; a node certificate per node and router naming the address it listens on;
        // a client certificate for the executor, repair and this runner (every data-plane hop is mutual TLS).
        pki = await DataPlanePki.create('chaos-ca')
        for (const id of [...Array.from({length: opts.nodes}, (_, i) => `n${i + 1}`), 'r1', 'r2']) {
          const f = await pki.issue(id, 'node', [dp.host(id), 'localhost'])
          tlsEnv[id] = tlsEnvOf(f)
        }
        const client = await pki.issue('executor', 'client')
        executorEnv = {SHARDCTL_TLS_CERT: client.cert, SHARDCTL_TLS_KEY: client.key, SHARDCTL_TLS_CA: client.ca}
        setDefaultClientTls(loadTlsMaterial(client, 'certificate'))
      }
      // A process restarted under a new id (`r2-ahead` in the clock-skew scenario) keeps its original's certificate.
      dp.childEnv = (id) => ({...addresses?.env(id), ...(tlsEnv[id] ?? tlsEnv[id.split('-')[0] ?? id])})
      await dp.init(opts.nodes, opts.shards, opts.rf)
      if (opts.tls) await setClusterSecurity(dp.ctx, {tlsOnly: true})
      await dp.startRouter('r1', opts.routerExtra)
      await dp.startRouter('r2', opts.routerExtra)
      const env = new ChaosEnv(etcd, dp)
      env.addresses = addresses
      env.partition = partition
      env.pki = pki
      env.executorEnv = executorEnv
      env.preloaded = opts.preloadKeys
      const bulk = 'b'.repeat(opts.preloadValueBytes ?? 1024)
      for (let i = 0; i < opts.preloadKeys; i += 10) {
        await Promise.all(Array.from({length: Math.min(10, opts.preloadKeys - i)}, (_, j) => kv(env.routerAddresses()[0]!, 'PUT', `bulk-${i + j}`, bulk)))
      }
      return env
    } catch (err) {
      partition?.dispose()
      await dp?.teardown().catch(() => {})
      await etcd.dispose()
      setDefaultClientTls(undefined)
      pki?.remove()
      throw err
    }
  }

  /** nodeServing asks node `id`'s /healthz whether it serves (false when it cannot be asked). */
  async nodeServing(id: string): Promise<boolean> {
    try {
      const res = await dataPlaneFetch(`${this.dp.host(id)}:${this.dp.ports[id]}`, '/healthz', {signal: AbortSignal.timeout(2000)})
      return ((await res.json()) as {serving?: boolean}).serving === true
    } catch {
      return false
    }
  }

  /** routerAddresses lists the routers still running (clients fail over among them). */
  routerAddresses(): string[] {
    const live = this.dp.routers.filter((r) => !(r as RouterProcess & {dead?: boolean}).dead)
    return live.map((r) => r.address)
  }

  /** killRouter SIGKILLs router `i` and drops it from the client list. */
  async killRouter(i: number): Promise<void> {
    const r = this.dp.routers[i]! as RouterProcess & {dead?: boolean}
    await r.kill()
    r.dead = true
  }

  /**
   * restartRouterWithClock replaces router `i` by a new one (id `<old>-<suffix>`, since the
   * old id's lease outlives the kill) whose wall clock is `offsetMs` off (libfaketime; 0: no
   * skew). Returns the new router's address; clients fail over to it.
   */
  async restartRouterWithClock(i: number, offsetMs: number, suffix: string): Promise<string> {
    const old = this.dp.routers[i]! as RouterProcess & {dead?: boolean}
    await old.kill()
    old.dead = true
    const id = `r${i + 1}-${suffix}`
    const r = await this.dp.startRouter(id, [], this.etcd.endpoints, offsetMs === 0 ? undefined : skewedClock(offsetMs))
    return r.address
  }

  /** restartNodeWithClock restarts node `id` on its data with its wall clock `offsetMs` off (libfaketime; 0: no skew). */
  async restartNodeWithClock(id: string, offsetMs: number): Promise<void> {
    await this.dp.nodes[id]!.kill()
    await this.dp.startNode(id, offsetMs === 0 ? undefined : skewedClock(offsetMs))
  }

  /** health reads a member's /healthz JSON (its wall clock and clock verdict included). */
  async health(address: string): Promise<MemberHealth> {
    const res = await dataPlaneFetch(address, '/healthz', {signal: AbortSignal.timeout(5000)})
    return (await res.json()) as MemberHealth
  }

  /** clockReading reads a member's /healthz with the times (this machine's clock) it was asked and answered; undefined when it does not answer. */
  async clockReading(address: string): Promise<ClockReading | undefined> {
    const sentAt = Date.now()
    const health = await this.health(address).catch(() => undefined)
    return health && {sentAt, receivedAt: Date.now(), health}
  }

  /** routerMetric sums a Prometheus counter over every live router. */
  async routerMetric(name: string): Promise<number> {
    let sum = 0
    for (const address of this.routerAddresses()) {
      const text = await dataPlaneFetch(address, '/metrics', {signal: AbortSignal.timeout(5000)}).then((r) => r.text()).catch(() => '')
      for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.slice(line.lastIndexOf(' ') + 1))
    }
    return sum
  }

  /** cliArgs are the connection flags every CLI child gets. */
  cliArgs(): string[] {
    return ['--endpoints', this.etcd.endpoints, '--cluster', this.dp.cluster]
  }

  /** markResumed records the moves started but unfinished now, before a new executor resumes them (counted as retried). */
  async markResumed(): Promise<void> {
    for (const m of await this.moves().catch(() => [])) if (!isTerminal(m.phase) && m.phase !== 'pending') this.resumedMoves.add(m.id)
  }

  /** startExecutor spawns `shardctl <args> --json` (drain or apply) as a child the scenario may kill. */
  startExecutor(args: string[]): ExecutorRun {
    const child: ChildProcess = spawn(process.execPath, [CLI_BIN, ...args, ...this.cliArgs(), '--json'], {cwd: process.cwd(), env: {PATH: process.env.PATH, HOME: process.env.HOME, ...this.addresses?.env('executor'), ...this.executorEnv}, stdio: ['ignore', 'pipe', 'pipe']})
    trackPid(child.pid)
    let out = ''
    let err = ''
    child.stdout!.on('data', (d) => (out += d))
    child.stderr!.on('data', (d) => (err += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000)
    const exited = new Promise<number>((resolve) =>
      child.once('exit', (code, sig) => {
        clearTimeout(timer)
        untrackPid(child.pid)
        resolve(code ?? (sig ? 128 : 1))
      }),
    )
    let gone = false
    void exited.then(() => (gone = true))
    const run: ExecutorRun = {pid: child.pid!, exited, stdout: () => out, stderr: () => err, kill: (sig = 'SIGKILL') => !gone && child.kill(sig)}
    this.executors.push(run)
    return run
  }

  /** move reads one move record (undefined when absent or unreadable). */
  async move(id: string): Promise<Move | undefined> {
    return (await this.moves().catch(() => [])).find((m) => m.id === id)
  }

  /** moves reads every move record of the cluster. */
  async moves(): Promise<Move[]> {
    return (await this.dp.ctx.store.listTyped(this.dp.ctx.keys.movesPrefix, MoveSchema)).items.map((i) => i.value)
  }

  /** waitForMove polls the move records until `pred` holds for one (bounded; it looks once even with no time left); returns it, or undefined on timeout. */
  async waitForMove(pred: (m: Move) => boolean, timeoutMs: number): Promise<Move | undefined> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = (await this.moves().catch(() => [])).find(pred)
      if (found) return found
      if (Date.now() >= deadline) return undefined
      await sleep(100)
    }
  }

  /**
   * finishMoves waits for the running executor (if any), then runs `apply --resume` until no
   * move is unfinished, each bounded, all within `deadlineMs` from now. Exit code 8 (the dead
   * executor's lock has not expired) is retried after a pause.
   */
  async finishMoves(deadlineMs: number): Promise<void> {
    const deadline = Date.now() + deadlineMs
    const current = this.executors.at(-1)
    if (current) await Promise.race([current.exited, sleep(Math.max(0, deadline - Date.now()))])
    while (Date.now() < deadline) {
      const open = (await this.moves().catch(() => undefined))?.filter((m) => !isTerminal(m.phase))
      if (open && open.length === 0) return
      await this.markResumed()
      const run = this.startExecutor(['apply', '--resume', '--yes'])
      const code = await Promise.race([run.exited, sleep(Math.max(0, deadline - Date.now())).then(() => -1)])
      if (code === -1) run.kill()
      if (code !== 0) await sleep(1000)
    }
  }

  /** moveCounts summarises the move records and the executors' retry events. */
  async moveCounts(): Promise<MoveCounts> {
    const all = await this.moves()
    const retried = new Set(this.resumedMoves)
    for (const e of this.executors) {
      for (const line of e.stdout().split('\n')) {
        if (!line.startsWith('{')) continue
        try {
          const ev = JSON.parse(line) as {type?: string; move?: string}
          if (ev.type === 'retry' && ev.move) retried.add(ev.move)
        } catch {
          // a partial line from a killed executor
        }
      }
    }
    return {
      abortReasons: all.filter((m) => m.phase === 'aborted' || m.phase === 'failed').map((m) => `${m.id}: ${m.reason ?? 'no reason'}`),
      total: all.length,
      completed: all.filter((m) => m.phase === 'done').length,
      retried: all.filter((m) => retried.has(m.id)).length,
      aborted: all.filter((m) => m.phase === 'aborted' || m.phase === 'failed').length,
      unfinished: all.filter((m) => !isTerminal(m.phase)).length,
    }
  }

  /** repair runs `shardctl repair` (killed after `timeoutMs`, at least 10 s) and returns its exit code. */
  async repair(timeoutMs = 90_000): Promise<number> {
    const r = await runCli(['repair', '--rounds', '5', ...this.cliArgs()], {cwd: process.cwd(), env: this.executorEnv, timeoutMs: Math.max(10_000, timeoutMs)})
    return r.code
  }

  /**
   * converged tells whether every shard's readable replicas report equal digests, compared
   * at a tombstone cutoff they agree on (tombstones older than it count as absent, whatever
   * each replica's purge progress).
   */
  async converged(): Promise<{ok: boolean; detail: string}> {
    for (const s of await this.dp.shards()) {
      const nodes = readReplicas(s)
      try {
        const agreed = await agreedDigests(async (tombstonesBefore) => new Map(await Promise.all(nodes.map(async (n) => [n, await this.dp.client(n).digest(s.id, s.epoch, {tombstonesBefore})] as const))), initialCutoff(Date.now()))
        if (agreed.cutoff === undefined) return {ok: false, detail: `shard ${s.id}: replicas did not agree on a tombstone cutoff`}
        const digests = nodes.map((n) => agreed.digests.get(n)!)
        const first = JSON.stringify(digests[0]!.buckets)
        const bad = nodes.filter((_, i) => JSON.stringify(digests[i]!.buckets) !== first)
        if (bad.length > 0) return {ok: false, detail: `shard ${s.id}: ${bad.join(',')} differ from ${nodes[0]}`}
      } catch (err) {
        return {ok: false, detail: `shard ${s.id}: ${(err as Error).message}`}
      }
    }
    return {ok: true, detail: ''}
  }

  /** ensureNodesUp restarts every node process that is gone (after a SIGKILL scenario). */
  async ensureNodesUp(): Promise<void> {
    for (const [id, p] of Object.entries(this.dp.nodes)) {
      const gone = await Promise.race([p.exited.then(() => true), sleep(0).then(() => false)])
      if (gone) await this.dp.startNode(id)
    }
  }

  /** dispose kills executors, the data plane and etcd, and removes their dirs. */
  async dispose(): Promise<void> {
    this.partition?.dispose()
    for (const e of this.executors) e.kill()
    await Promise.all(this.executors.map((e) => e.exited))
    await this.dp.teardown()
    await this.etcd.dispose()
    if (this.pki) setDefaultClientTls(undefined)
    this.pki?.remove()
  }
}
