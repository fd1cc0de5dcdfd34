import {type ChildProcess, execFile, spawn} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {Redis} from 'ioredis'
import {freePort} from '../../src/localEtcd/freePort.js'
import {myself, parseClusterNodes, type RedisClusterNode} from '../../src/redis/clusterNodes.js'
import {keySlot} from '../../src/redis/keySlot.js'
import {withRedisNode} from '../../src/redis/redisConnection.js'
import {trackPid, untrackPid} from './processReaper.js'

const run = promisify(execFile)

/** RedisServerProcess is one `redis-server` child in cluster mode. */
export interface RedisServerProcess {
  port: number
  address: string
  child: ChildProcess
  dir: string
}

/** RealRedisCluster is a running Redis Cluster of real processes on 127.0.0.1. */
export interface RealRedisCluster {
  servers: RedisServerProcess[]
  /** seed is one master's host:port, for `cluster init --engine redis --seed`. */
  seed: string
  /** stop SIGTERMs every server (SIGKILL after a grace), waits for each to exit and removes the temp dirs. Idempotent. */
  stop(): Promise<void>
}

/** redisAvailable tells whether redis-server and redis-cli are on PATH (tests skip otherwise). */
export async function redisAvailable(): Promise<boolean> {
  try {
    await run('redis-server', ['--version'])
    await run('redis-cli', ['--version'])
    return true
  } catch {
    return false
  }
}

/**
 * startRedisCluster starts `masters * (1 + replicasPerMaster)` real redis-server processes
 * in cluster mode, each on a run-time port of 127.0.0.1 with its own temp dir (no
 * persistence), creates the cluster with `redis-cli --cluster create --cluster-yes` and waits
 * until every node reports `cluster_state:ok`, knows every node and sees exactly `masters` masters.
 * `serverArgs` are appended to every server's command line (e.g. `--maxmemory-policy allkeys-lfu`). Children are
 * registered with the process reaper so a crashed test run leaves none behind.
 */
export async function startRedisCluster(opts: {masters?: number; replicasPerMaster?: number; serverArgs?: readonly string[]} = {}): Promise<RealRedisCluster> {
  const masters = opts.masters ?? 3
  const replicas = opts.replicasPerMaster ?? 1
  const servers: RedisServerProcess[] = []
  const cluster: RealRedisCluster = {
    servers,
    seed: '',
    async stop() {
      await Promise.all(servers.splice(0).map(stopServer))
    },
  }
  try {
    for (let i = 0; i < masters * (1 + replicas); i++) servers.push(await startServer(opts.serverArgs ?? []))
    cluster.seed = servers[0]!.address
    await run('redis-cli', ['--cluster', 'create', ...servers.map((s) => s.address), '--cluster-replicas', String(replicas), '--cluster-yes'], {timeout: 60_000})
    await waitClusterOk(servers, masters, 60_000)
    return cluster
  } catch (err) {
    await cluster.stop()
    throw err
  }
}

async function startServer(extraArgs: readonly string[]): Promise<RedisServerProcess> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort()
    const dir = mkdtempSync(join(tmpdir(), 'shardctl-redis-'))
    // The cluster bus listens on port + 10000: pick a port whose bus port is free too.
    if (port > 55_000) {
      rmSync(dir, {recursive: true, force: true})
      continue
    }
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', '5000', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--logfile', join(dir, 'redis.log'), '--protected-mode', 'no', ...extraArgs]
    const child = spawn('redis-server', args, {stdio: 'ignore'})
    trackPid(child.pid)
    const server = {port, address: `127.0.0.1:${port}`, child, dir}
    if (await answersPing(port, child, 10_000)) return server
    await stopServer(server)
    if (attempt >= 4) throw new Error(`redis-server did not start on 127.0.0.1:${port} (see ${dir}/redis.log)`)
  }
}

async function answersPing(port: number, child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline && child.exitCode === null) {
    const r = new Redis({host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false})
    r.on('error', () => {})
    try {
      await r.connect()
      if ((await r.ping()) === 'PONG') return true
    } catch {
      // not listening yet
    } finally {
      r.disconnect()
    }
    await new Promise((res) => setTimeout(res, 100))
  }
  return false
}

async function waitClusterOk(servers: RedisServerProcess[], masters: number, timeoutMs: number): Promise<void> {
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
        const seenMasters = lines.filter((l) => l.split(' ')[2]!.includes('master')).length
        if (info.includes('cluster_state:ok') && Number(known) === servers.length && seenMasters === masters) break
        if (Date.now() > deadline) throw new Error(`redis node ${s.address} not ok after ${timeoutMs} ms: ${info.split('\r\n').slice(0, 3).join(' ')}`)
        await new Promise((res) => setTimeout(res, 200))
      }
    } finally {
      r.disconnect()
    }
  }
}

async function stopServer(s: RedisServerProcess): Promise<void> {
  if (s.child.exitCode === null && s.child.signalCode === null) {
    const exited = new Promise<void>((res) => s.child.once('exit', () => res()))
    s.child.kill('SIGTERM')
    const timer = setTimeout(() => s.child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
  untrackPid(s.child.pid)
  rmSync(s.dir, {recursive: true, force: true})
}

/** RedisMaster is one master of a test cluster: its shardctl (short) id, full Redis id and address. */
export interface RedisMaster {
  node: string
  redisId: string
  address: string
}

/** OpenSlot is a slot one master marks MIGRATING or IMPORTING in its own view. */
export interface OpenSlotMark {
  slot: number
  node: string
  state: 'migrating' | 'importing'
}

async function myView(address: string): Promise<RedisClusterNode> {
  return withRedisNode(address, async (r) => {
    const me = myself(parseClusterNodes(String(await r.call('CLUSTER', 'NODES'))))
    if (!me) throw new Error(`redis node ${address} did not report itself in CLUSTER NODES`)
    return me
  })
}

/** servedSlots is the set of slots `master` serves by its own CLUSTER NODES view. */
export async function servedSlots(master: RedisMaster): Promise<Set<number>> {
  return new Set((await myView(master.address)).slots)
}

/** ownerOf is the short id of the master that serves `slot` by its own view ('none' when no master claims it). */
export async function ownerOf(masters: readonly RedisMaster[], slot: number): Promise<string> {
  for (const m of masters) if ((await servedSlots(m)).has(slot)) return m.node
  return 'none'
}

/** openSlotMarks lists every MIGRATING/IMPORTING mark on the masters, each by its own view. */
export async function openSlotMarks(masters: readonly RedisMaster[]): Promise<OpenSlotMark[]> {
  const out: OpenSlotMark[] = []
  for (const m of masters) {
    const me = await myView(m.address)
    for (const slot of me.migrating.keys()) out.push({slot, node: m.node, state: 'migrating'})
    for (const slot of me.importing.keys()) out.push({slot, node: m.node, state: 'importing'})
  }
  return out
}

/**
 * tagsInSlots returns `n` hash tags, each in a different slot of [first, end), in ascending
 * slot order (keys `{tag}:...` land in that slot). Computed locally (CRC16), no round trips.
 */
export function tagsInSlots(first: number, end: number, n: number, prefix = 'm'): {tag: string; slot: number}[] {
  const found = new Map<number, string>()
  for (let i = 0; found.size < n && i < 2_000_000; i++) {
    const slot = keySlot(`${prefix}${i}`)
    if (slot >= first && slot < end && !found.has(slot)) found.set(slot, `${prefix}${i}`)
  }
  if (found.size < n) throw new Error(`found only ${found.size} of ${n} tags in slots [${first}, ${end})`)
  return [...found].map(([slot, tag]) => ({tag, slot})).sort((a, b) => a.slot - b.slot)
}

/**
 * moveSlotByHand migrates `slot` from master `src` to master `dst` the way an operator's
 * redis-cli does (IMPORTING, MIGRATING, MIGRATE batches, SETSLOT NODE on the target, the
 * source, then every other master): a change made outside shardctl.
 */
export async function moveSlotByHand(masters: readonly RedisMaster[], slot: number, src: RedisMaster, dst: RedisMaster): Promise<void> {
  await withRedisNode(dst.address, (r) => r.call('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', src.redisId))
  await withRedisNode(src.address, async (r) => {
    await r.call('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', dst.redisId)
    const i = dst.address.lastIndexOf(':')
    for (let round = 0; round < 1000; round++) {
      const keys = (await r.call('CLUSTER', 'GETKEYSINSLOT', String(slot), '100')) as string[]
      if (keys.length === 0) return
      await r.call('MIGRATE', dst.address.slice(0, i), dst.address.slice(i + 1), '', '0', '5000', 'REPLACE', 'KEYS', ...keys)
    }
    throw new Error(`slot ${slot} did not empty`)
  })
  for (const m of [dst, src, ...masters.filter((x) => x !== src && x !== dst)]) {
    await withRedisNode(m.address, (r) => r.call('CLUSTER', 'SETSLOT', String(slot), 'NODE', dst.redisId))
  }
}
