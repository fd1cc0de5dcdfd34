import {type ChildProcess, spawn} from 'node:child_process'
import {closeSync, mkdirSync, mkdtempSync, openSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {findEtcdBinary} from '../../src/localEtcd/etcdBinary.js'
import {healthy} from '../../src/localEtcd/etcdProcess.js'
import {freePort} from '../../src/localEtcd/freePort.js'
import {trackPid, untrackPid} from '../support/processReaper.js'
import {type EtcdLeader, type EtcdMemberStatus, type StatusReading, leaderKillVerdict, leaderNow, parseStatus} from './etcdLeader.js'

/** EtcdMember is one member of an {@link EtcdCluster}: its name, ports and running process (if any). */
interface EtcdMember {
  name: string
  clientUrl: string
  peerUrl: string
  dataDir: string
  child?: ChildProcess
  exited?: Promise<void>
}

/**
 * EtcdCluster is a 3-member etcd cluster on 127.0.0.1 free ports in one temp dir, with the
 * same flags as src/localEtcd/etcdProcess.ts plus `--initial-cluster` listing every member.
 * Members can be killed (SIGKILL: "loss of a member") and started again on the same ports
 * and data. dispose() kills everything and removes the dir; a crashed runner still kills
 * the members by pid (processReaper).
 */
export class EtcdCluster {
  private constructor(
    readonly dir: string,
    readonly members: EtcdMember[],
  ) {}

  /** endpoints is the comma-separated client URL list (what `--endpoints` takes). */
  get endpoints(): string {
    return this.members.map((m) => m.clientUrl).join(',')
  }

  /**
   * start launches `size` members and resolves once all are healthy (bounded: 30 s per try).
   * A cluster that does not come up (seen once in CI: a member never healthy, likely a port
   * picked by freePort taken before etcd bound it) is torn down and started again on fresh
   * ports, up to 3 tries, so the harness's own start-up does not fail a scenario.
   */
  static async start(size = 3, hosts: readonly string[] = []): Promise<EtcdCluster> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await EtcdCluster.startOnce(size, hosts)
      } catch (err) {
        if (attempt >= 3) throw err
        process.stderr.write(`[chaos] etcd cluster start failed (${(err as Error).message}); retrying on fresh ports\n`)
      }
    }
  }

  private static async startOnce(size: number, hosts: readonly string[]): Promise<EtcdCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'shardctl-chaos-etcd-'))
    const members: EtcdMember[] = []
    for (let i = 0; i < size; i++) {
      const name = `m${i + 1}`
      const host = hosts[i] ?? '127.0.0.1'
      members.push({name, clientUrl: `http://${host}:${await freePort()}`, peerUrl: `http://${host}:${await freePort()}`, dataDir: join(dir, name)})
    }
    const cluster = new EtcdCluster(dir, members)
    try {
      for (let i = 0; i < size; i++) cluster.launch(i)
      await Promise.all(members.map((_, i) => cluster.waitHealthy(i, 30_000)))
    } catch (err) {
      await cluster.dispose()
      throw err
    }
    return cluster
  }

  private launch(i: number): void {
    const m = this.members[i]!
    mkdirSync(m.dataDir, {recursive: true})
    const args = [
      `--name=${m.name}`,
      `--data-dir=${join(m.dataDir, 'data')}`,
      `--listen-client-urls=${m.clientUrl}`,
      `--advertise-client-urls=${m.clientUrl}`,
      `--listen-peer-urls=${m.peerUrl}`,
      `--initial-advertise-peer-urls=${m.peerUrl}`,
      `--initial-cluster=${this.members.map((x) => `${x.name}=${x.peerUrl}`).join(',')}`,
      '--initial-cluster-state=new',
      '--initial-cluster-token=shardctl-chaos',
      '--logger=zap',
      `--log-outputs=${join(m.dataDir, 'etcd.log')}`,
      '--log-level=warn',
    ]
    const out = openSync(join(m.dataDir, 'etcd.out'), 'a')
    try {
      m.child = spawn(findEtcdBinary(), args, {stdio: ['ignore', out, out]})
    } finally {
      closeSync(out)
    }
    trackPid(m.child.pid)
    const child = m.child
    m.exited = new Promise((resolve) => child.once('exit', () => resolve()))
  }

  private async waitHealthy(i: number, timeoutMs: number): Promise<void> {
    const m = this.members[i]!
    const deadline = Date.now() + timeoutMs
    while (!(await healthy(m.clientUrl))) {
      if (Date.now() > deadline) throw new Error(`etcd member ${m.name} not healthy within ${timeoutMs} ms (see ${m.dataDir})`)
      await new Promise((r) => setTimeout(r, 150))
    }
  }

  /** kill SIGKILLs member `i` (or SIGTERMs it with `graceful`) and waits for it to exit. Idempotent. */
  async kill(i: number, graceful = false): Promise<void> {
    const m = this.members[i]!
    if (!m.child) return
    m.child.kill(graceful ? 'SIGTERM' : 'SIGKILL')
    await m.exited
    untrackPid(m.child.pid)
    m.child = undefined
  }

  /**
   * freeze SIGSTOPs member `i`: its process stays, its TCP connections stay open, and it answers
   * nothing (a stalled disk or VM) until {@link EtcdCluster.thaw}. dispose() kills it frozen too.
   */
  freeze(i: number): void {
    this.members[i]!.child?.kill('SIGSTOP')
  }

  /** thaw SIGCONTs member `i` after {@link EtcdCluster.freeze}. */
  thaw(i: number): void {
    this.members[i]!.child?.kill('SIGCONT')
  }

  /** restart starts a killed member again on its ports and data; with `wait`, until the cluster reports it healthy. */
  async restart(i: number, wait = true): Promise<void> {
    if (this.members[i]!.child) return
    this.launch(i)
    if (wait) await this.waitHealthy(i, 30_000)
  }

  /** waitAllHealthy waits (bounded) until every running member answers /health true (the cluster has a leader). */
  async waitAllHealthy(timeoutMs = 30_000): Promise<void> {
    await Promise.all(this.members.map((m, i) => (m.child ? this.waitHealthy(i, timeoutMs) : Promise.resolve())))
  }

  /** statuses asks every running member for its status at once (`/v3/maintenance/status`, 1 s each); undefined for a member that is down or did not answer. */
  async statuses(): Promise<Array<EtcdMemberStatus | undefined>> {
    return Promise.all(
      this.members.map(async (m, i) => {
        if (!m.child) return undefined
        try {
          const res = await fetch(`${m.clientUrl}/v3/maintenance/status`, {method: 'POST', body: '{}', signal: AbortSignal.timeout(1000)})
          return parseStatus(i, await res.json())
        } catch {
          return undefined
        }
      }),
    )
  }

  /**
   * leader polls the members' statuses until they agree on a leader ({@link leaderNow}),
   * bounded by `timeoutMs`; returns it with when (Date.now()) the agreeing statuses were
   * asked for, or the last reason there was none.
   */
  async leader(timeoutMs = 10_000): Promise<{leader: EtcdLeader; askedAt: number} | string> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const askedAt = Date.now()
      const now = leaderNow(await this.statuses())
      if (typeof now !== 'string') return {leader: now, askedAt}
      if (Date.now() >= deadline) return now
      await new Promise((r) => setTimeout(r, 200))
    }
  }

  /**
   * killLeader asks the members which one leads now, SIGKILLs that one at once, and polls
   * the survivors (bounded by `timeoutMs`) until they show whether it was still leading
   * when it died ({@link leaderKillVerdict}). Returns the member killed and when (undefined when no
   * leader could be named), and a one-line account for the scenario's notes.
   */
  async killLeader(timeoutMs: number): Promise<{killed?: number; killedAt?: number; verdict: 'landed' | 'pending' | 'missed'; detail: string}> {
    const deadline = Date.now() + timeoutMs
    const found = await this.leader(timeoutMs)
    if (typeof found === 'string') return {verdict: 'missed', detail: `no etcd leader to kill: ${found}`}
    const {leader, askedAt} = found
    const killedAt = Date.now()
    await this.kill(leader.index)
    const readings: StatusReading[] = []
    let judged = leaderKillVerdict(leader, readings)
    while (judged.verdict === 'pending' && Date.now() < deadline) {
      const statuses = await this.statuses()
      readings.push({msSinceKill: Date.now() - killedAt, statuses})
      judged = leaderKillVerdict(leader, readings)
      if (judged.verdict === 'pending') await new Promise((r) => setTimeout(r, 100))
    }
    const said = `m${leader.index + 1} said it led at term ${leader.term} (asked ${killedAt - askedAt} ms before its SIGKILL)`
    return {killed: leader.index, killedAt, verdict: judged.verdict, detail: `${said}; ${judged.verdict === 'pending' ? `within ${Math.round(timeoutMs / 1000)} s: ${judged.detail}` : judged.detail}`}
  }

  /** dispose kills every member and removes the data dir. Idempotent. */
  async dispose(): Promise<void> {
    await Promise.all(this.members.map((_, i) => this.kill(i)))
    rmSync(this.dir, {recursive: true, force: true})
  }
}
