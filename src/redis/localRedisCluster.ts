import {type ChildProcess, execFile, spawn} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {Redis} from 'ioredis'
import {UserError} from '../errors/errors.js'
import {freePort} from '../localEtcd/freePort.js'
import {portHeldBy} from '../localEtcd/portOwner.js'

const run = promisify(execFile)

/** LocalRedisServer is one `redis-server` child in cluster mode on 127.0.0.1. */
export interface LocalRedisServer {
  port: number
  address: string
  child: ChildProcess
  dir: string
}

/** LocalRedisCluster is a running Redis Cluster of child processes on 127.0.0.1. */
export interface LocalRedisCluster {
  servers: LocalRedisServer[]
  /** seed is one master's host:port, for `cluster init --engine redis --seed`. */
  seed: string
  /** stop SIGTERMs every server (SIGKILL after 5 s), waits for each to exit and removes its dir. Idempotent. */
  stop(): Promise<void>
}

/** LocalRedisClusterOptions shape the cluster; the hooks let a caller guard the pids (orphan reaper, test reaper). */
export interface LocalRedisClusterOptions {
  masters?: number
  replicasPerMaster?: number
  /** serverArgs are appended to every server's command line (e.g. `--maxmemory-policy allkeys-lfu`). */
  serverArgs?: readonly string[]
  /** parentDir holds each server's temp dir (default: the OS temp dir). */
  parentDir?: string
  onSpawn?: (pid: number) => void
  onExit?: (pid: number) => void
}

/** REDIS_MISSING names the package when redis-server or redis-cli is not on PATH. */
const REDIS_MISSING = 'install it (Debian/Ubuntu: `sudo apt-get install redis-server`, which brings redis-cli too; or Valkey 8+ with its redis-* links) and make sure redis-server and redis-cli are on PATH'

/** redisBinariesAvailable tells whether `redis-server` and `redis-cli` run from PATH. */
export async function redisBinariesAvailable(): Promise<boolean> {
  try {
    await run('redis-server', ['--version'])
    await run('redis-cli', ['--version'])
    return true
  } catch {
    return false
  }
}

/** requireRedisBinaries throws UserError(MISSING_DEPENDENCY), naming the apt package, when redis-server or redis-cli is missing. */
export async function requireRedisBinaries(): Promise<void> {
  if (!(await redisBinariesAvailable())) throw new UserError('MISSING_DEPENDENCY', 'redis-server or redis-cli is not installed', REDIS_MISSING)
}

/**
 * startLocalRedisCluster starts `masters * (1 + replicasPerMaster)` redis-server processes (side by side) in
 * cluster mode, each on a run-time port of 127.0.0.1 (whose cluster bus port, +10000, is a
 * valid port too) with its own temp dir and no persistence; creates the cluster with
 * `redis-cli --cluster create --cluster-yes`, has every node MEET the others (so all learn the
 * replicas' roles at once) and waits until every node reports
 * `cluster_state:ok`, knows every node, sees exactly `masters` masters and, on a replica, has
 * its master link up (60 s bound; replicas sync at once, without diskless sync's 5 s delay). On
 * failure everything started is stopped. Throws UserError(INTERNAL) when a server does not
 * come up (naming its log).
 */
export async function startLocalRedisCluster(opts: LocalRedisClusterOptions = {}): Promise<LocalRedisCluster> {
  const masters = opts.masters ?? 3
  const replicas = opts.replicasPerMaster ?? 1
  const servers: LocalRedisServer[] = []
  const stopOne = (s: LocalRedisServer) => stopServer(s, opts.onExit)
  const cluster: LocalRedisCluster = {
    servers,
    seed: '',
    async stop() {
      await Promise.all(servers.splice(0).map(stopOne))
    },
  }
  try {
    // Side by side: one after another, the six servers of a test cluster took 0.8 s to answer.
    const started = await Promise.allSettled(Array.from({length: masters * (1 + replicas)}, () => startServer(opts)))
    // In start order (the first is the seed); the ones that came up are stopped below if another did not.
    for (const s of started) if (s.status === 'fulfilled') servers.push(s.value)
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected')
    if (failed) throw failed.reason
    cluster.seed = servers[0]!.address
    await run('redis-cli', ['--cluster', 'create', ...servers.map((s) => s.address), '--cluster-replicas', String(replicas), '--cluster-yes'], {timeout: 60_000})
    await meetEveryOther(servers)
    await waitClusterOk(servers, masters, 60_000)
    return cluster
  } catch (err) {
    await cluster.stop()
    throw err
  }
}

/**
 * redisServerArgs is the command line of one server of a local cluster on `port` with its files
 * in `dir` (nodes.conf, redis.log, and any dump.rdb), `extra` last (the later flag wins): the
 * same line restarts a server with its cluster identity and whatever it persisted.
 */
export function redisServerArgs(port: number, dir: string, extra: readonly string[] = []): string[] {
  return ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', '5000', '--dir', dir, '--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0', '--daemonize', 'no', '--logfile', join(dir, 'redis.log'), '--protected-mode', 'no', ...extra]
}

async function startServer(opts: LocalRedisClusterOptions): Promise<LocalRedisServer> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort()
    // The cluster bus listens on port + 10000: pick a port whose bus port exists.
    if (port > 55_000) continue
    const dir = mkdtempSync(join(opts.parentDir ?? tmpdir(), 'shardctl-redis-'))
    const child = spawn('redis-server', redisServerArgs(port, dir, opts.serverArgs), {stdio: 'ignore'})
    child.on('error', () => {}) // a missing binary shows as a server that never answers
    if (child.pid !== undefined) opts.onSpawn?.(child.pid)
    const server = {port, address: `127.0.0.1:${port}`, child, dir}
    if (await answersPing(port, child, 10_000)) return server
    await stopServer(server, opts.onExit)
    if (attempt >= 4) throw new UserError('INTERNAL', `redis-server did not start on 127.0.0.1:${port} after ${attempt + 1} tries`, `see ${dir}/redis.log of a retry, or run redis-server by hand`)
  }
}

/**
 * meetEveryOther has every server send CLUSTER MEET to every other one, which it already knows.
 * Each MEET carries the sender's role in its header, so every node learns at once which nodes
 * `--cluster create` made replicas; by gossip alone (a node pings the others it has not heard
 * from within half of --cluster-node-timeout) that took 1.6 to 3.6 s after the create, which
 * every test file starting a cluster waited for (0.1 to 0.2 s with the MEETs). Best effort:
 * waitClusterOk still waits for whatever gossip has not told yet.
 */
async function meetEveryOther(servers: LocalRedisServer[]): Promise<void> {
  await Promise.all(
    servers.map(async (s) => {
      const r = new Redis({host: '127.0.0.1', port: s.port, lazyConnect: true, maxRetriesPerRequest: 1})
      r.on('error', () => {})
      try {
        await r.connect()
        for (const other of servers) if (other !== s) await r.call('CLUSTER', 'MEET', '127.0.0.1', String(other.port))
      } catch {
        // gossip tells the others anyway
      } finally {
        r.disconnect()
      }
    }),
  )
}

/**
 * killAndRestartServer SIGKILLs `s` (a crash: nothing saved on the way out), waits for it to
 * exit, then starts it again on the same port with the same files (its nodes.conf: same id,
 * slots and MIGRATING/IMPORTING marks; and whatever data it had persisted, none by default)
 * and waits until it answers PING (10 s bound). `s.child` is the new process afterwards.
 * Throws UserError(INTERNAL) when it does not come back.
 */
export async function killAndRestartServer(s: LocalRedisServer, opts: Pick<LocalRedisClusterOptions, 'serverArgs' | 'onSpawn' | 'onExit'> = {}): Promise<void> {
  if (s.child.exitCode === null && s.child.signalCode === null) {
    const exited = new Promise<void>((res) => s.child.once('exit', () => res()))
    s.child.kill('SIGKILL')
    await exited
  }
  if (s.child.pid !== undefined) opts.onExit?.(s.child.pid)
  const child = spawn('redis-server', redisServerArgs(s.port, s.dir, opts.serverArgs), {stdio: 'ignore'})
  child.on('error', () => {})
  if (child.pid !== undefined) opts.onSpawn?.(child.pid)
  s.child = child
  if (!(await answersPing(s.port, child, 10_000))) throw new UserError('INTERNAL', `redis-server did not come back on ${s.address}`, `see ${s.dir}/redis.log`)
}

/**
 * answersPing tells whether `child` answers PING on `port` within `timeoutMs` (false once it
 * exited). Only the child counts: a port chosen free may be taken by another redis-server
 * (another test's) while the child exits on "address already in use" (the start is then tried
 * on another port), so an answer from a port the child does not hold is not its answer.
 * Exported for tests.
 */
export async function answersPing(port: number, child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline && child.exitCode === null) {
    const r = new Redis({host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false})
    r.on('error', () => {})
    try {
      // Each attempt is bounded: a frozen server (SIGSTOP, a stalled disk) has its connection
      // accepted by the kernel and then never answers, and an unbounded await hung the caller
      // past its deadline for ever. Disconnecting in finally ends the attempt left behind.
      const pong = await withinMs(Math.max(1, Math.min(PING_ATTEMPT_MS, deadline - Date.now())), async () => {
        await r.connect()
        return r.ping()
      })
      if (pong === 'PONG' && portHeldBy(child.pid ?? -1, port) !== false) return true
    } catch {
      // not listening yet
    } finally {
      r.disconnect()
    }
    await new Promise((res) => setTimeout(res, 100))
  }
  return false
}

/** PING_ATTEMPT_MS bounds one connect-and-PING attempt of answersPing (a loaded machine answers a live server well within it). */
const PING_ATTEMPT_MS = 2000

/** withinMs is `fn()`'s result, or undefined once `ms` passed first (the work left running is the caller's to end). */
async function withinMs<T>(ms: number, fn: () => Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<undefined>((res) => (timer = setTimeout(() => res(undefined), ms)))
  const work = fn()
  // A rejection after the timer won is the abandoned attempt's (its disconnect): not unhandled.
  work.catch(() => {})
  try {
    return await Promise.race([work, late])
  } finally {
    clearTimeout(timer)
  }
}

async function waitClusterOk(servers: LocalRedisServer[], masters: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (const s of servers) {
    const r = new Redis({host: '127.0.0.1', port: s.port, maxRetriesPerRequest: 1})
    r.on('error', () => {})
    try {
      for (;;) {
        const info = String(await r.call('CLUSTER', 'INFO'))
        const known = /cluster_known_nodes:(\d+)/.exec(info)?.[1]
        // Every node must also see the replicas as replicas (gossip lags CLUSTER REPLICATE).
        const lines = String(await r.call('CLUSTER', 'NODES')).trim().split('\n')
        const seenMasters = lines.filter((l) => (l.split(' ')[2] ?? '').includes('master')).length
        // A replica must have finished its first sync: one that never did refuses to fail over
        // (its data counts as too old), which a test killing its master would take for Redis
        // not failing over at all.
        const replication = String(await r.call('INFO', 'replication'))
        const synced = !replication.includes('role:slave') || replication.includes('master_link_status:up')
        if (info.includes('cluster_state:ok') && Number(known) === servers.length && seenMasters === masters && synced) break
        if (Date.now() > deadline) throw new UserError('INTERNAL', `redis node ${s.address} not ok after ${timeoutMs} ms: ${info.split('\r\n').slice(0, 3).join(' ')}`, `see ${s.dir}/redis.log`)
        await new Promise((res) => setTimeout(res, 200))
      }
    } finally {
      r.disconnect()
    }
  }
}

async function stopServer(s: LocalRedisServer, onExit: ((pid: number) => void) | undefined): Promise<void> {
  if (s.child.exitCode === null && s.child.signalCode === null) {
    const exited = new Promise<void>((res) => s.child.once('exit', () => res()))
    s.child.kill('SIGTERM')
    const timer = setTimeout(() => s.child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
  if (s.child.pid !== undefined) onExit?.(s.child.pid)
  rmSync(s.dir, {recursive: true, force: true})
}
