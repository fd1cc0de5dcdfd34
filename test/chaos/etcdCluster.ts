import {type ChildProcess, spawn} from 'node:child_process'
import {closeSync, mkdirSync, mkdtempSync, openSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {findEtcdBinary} from '../../src/localEtcd/etcdBinary.js'
import {healthy} from '../../src/localEtcd/etcdProcess.js'
import {freePort} from '../../src/localEtcd/freePort.js'
import {trackPid, untrackPid} from '../support/processReaper.js'

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

  /**
   * leaderIndex asks the running members (gRPC gateway `/v3/maintenance/status`) which
   * member leads; undefined when none answers or there is no leader (bounded: 10 s).
   */
  async leaderIndex(timeoutMs = 10_000): Promise<number | undefined> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const ids: (string | undefined)[] = []
      let leader: string | undefined
      for (const m of this.members) {
        if (!m.child) {
          ids.push(undefined)
          continue
        }
        try {
          const res = await fetch(`${m.clientUrl}/v3/maintenance/status`, {method: 'POST', body: '{}', signal: AbortSignal.timeout(1000)})
          const s = (await res.json()) as {header?: {member_id?: string}; leader?: string}
          ids.push(s.header?.member_id)
          if (s.leader && s.leader !== '0') leader = s.leader
        } catch {
          ids.push(undefined)
        }
      }
      const idx = leader === undefined ? -1 : ids.indexOf(leader)
      if (idx >= 0) return idx
      await new Promise((r) => setTimeout(r, 200))
    }
    return undefined
  }

  /** dispose kills every member and removes the data dir. Idempotent. */
  async dispose(): Promise<void> {
    await Promise.all(this.members.map((_, i) => this.kill(i)))
    rmSync(this.dir, {recursive: true, force: true})
  }
}
