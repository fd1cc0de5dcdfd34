import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, inject, it} from 'vitest'
import {type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {freePort} from '../../../src/localEtcd/freePort.js'
import {keyHash} from '../../../src/model/hash.js'
import {formatHlc} from '../../../src/model/hlc.js'
import {NodeSchema} from '../../../src/model/node.js'
import {type Shard} from '../../../src/model/shard.js'
import {loadClusterToken} from '../../../src/node/clusterToken.js'
import {NodeClient} from '../../../src/node/nodeClient.js'
import {type CliChild} from '../../support/cliChild.js'
import {exitedWithin, listening} from '../../support/daemonProbe.js'
import {waitFor} from '../router/dataPlane.js'
import {type NodeProcess, spawnNodeProcess, startNodeProcess} from './nodeProcess.js'
import {registerCluster, type RegisteredCluster} from './twoNodeCluster.js'

/**
 * One node id, one process. An outside tester started a second `node serve --id n1` (another
 * port, an empty data dir) while n1 ran: it rewrote n1's record address and took over
 * alive/n1, so routers sent n1's traffic to the empty impostor. The second process must
 * refuse (exit 8, one line naming the running one) and change nothing; a frozen n1 must not
 * be taken over while its lease lives; and a node restarted after SIGKILL must still serve
 * at once, not wait out its dead predecessor's lease.
 */

const children: CliChild[] = []
const dirs: string[] = []
let cluster: RegisteredCluster
let ctx: ServiceContext
let port: number
let dataDir: string
let n1: NodeProcess
let shards: Shard[] = []
const written: {shard: Shard; key: Buffer; value: string}[] = []

// Long enough that a frozen n1 keeps its lease through the second process's probe and start of its wait.
const LEASE_TTL = '20s'

function newDir(name: string): string {
  const d = join(tmpdir(), `shardctl-dupnode-${name}-${process.pid}-${Date.now()}`)
  dirs.push(d)
  return d
}

async function startN1(): Promise<NodeProcess> {
  const p = await startNodeProcess({...cluster.connection, id: 'n1', port, dataDir, leaseTtl: LEASE_TTL})
  children.push(p)
  return p
}

/** secondN1 spawns another `node serve --id n1` on a free port and an empty (not yet existing) data dir. */
async function secondN1(): Promise<{child: CliChild; port: number; dir: string}> {
  const p2 = await freePort()
  const dir = newDir('second')
  const child = spawnNodeProcess({...cluster.connection, id: 'n1', port: p2, dataDir: dir, leaseTtl: '3s', statsInterval: null})
  children.push(child)
  return {child, port: p2, dir}
}

async function registration(): Promise<{record: {address: string; modRevision: bigint}; alive: {value: string; lease: string; modRevision: bigint} | undefined}> {
  const rec = await ctx.store.get(ctx.keys.node('n1'))
  const alive = await ctx.store.get(ctx.keys.alive('n1'))
  return {record: {address: JSON.parse(rec!.value).address, modRevision: rec!.modRevision}, alive: alive && {value: alive.value, lease: alive.lease, modRevision: alive.modRevision}}
}

async function expectKeysReadable(): Promise<void> {
  const token = await loadClusterToken(ctx, {create: false})
  const c = new NodeClient({node: 'n1', address: `127.0.0.1:${port}`, token, timeoutMs: 10_000})
  try {
    for (const w of written) expect((await c.get(w.shard.id, w.shard.epoch, w.key)).record?.value?.toString()).toBe(w.value)
  } finally {
    await c.destroy()
  }
}

beforeAll(async () => {
  cluster = await registerCluster(inject('etcdEndpoint'), 'dupnode', {shards: 2, rf: 1, nodes: ['n1']})
  ctx = cluster.ctx
  shards = cluster.shards
  port = cluster.ports.n1!
  dataDir = mkdtempSync(join(tmpdir(), 'shardctl-dupnode-n1-'))
  dirs.push(dataDir)
  n1 = await startN1()
  const token = await loadClusterToken(ctx, {create: false})
  const c = new NodeClient({node: 'n1', address: `127.0.0.1:${port}`, token, timeoutMs: 10_000})
  for (const shard of shards) {
    for (let i = 0; written.filter((w) => w.shard.id === shard.id).length < 3 && i < 100_000; i++) {
      const key = Buffer.from(`dup-${i}`)
      if (keyHash(key) < shard.range.lo || keyHash(key) >= shard.range.hi) continue
      const value = `v-${shard.id}-${i}`
      await c.apply(shard.id, shard.epoch, [{key, version: formatHlc({wall: Date.now(), counter: 0, writer: 'test'}), value: Buffer.from(value)}])
      written.push({shard, key, value})
    }
  }
  await c.destroy()
}, 90_000)

afterEach(() => {
  n1?.signal('SIGCONT')
})

afterAll(async () => {
  await Promise.all(children.map((c) => c.kill()))
  cluster?.close()
  for (const d of dirs) rmSync(d, {recursive: true, force: true})
})

describe('two node serve for one id started at once', () => {
  it('exactly one serves: the other exits 8, and the record and alive key name the one that serves', async () => {
    await ctx.store.create(ctx.keys.node('n2'), JSON.stringify(NodeSchema.parse({id: 'n2', address: '127.0.0.1:1', createdAt: new Date().toISOString()})))
    const ports = [await freePort(), await freePort()]
    const racers = ports.map((p, i) => {
      const child = spawnNodeProcess({...cluster.connection, id: 'n2', port: p, dataDir: newDir(`race${i}`), leaseTtl: '3s', statsInterval: null})
      children.push(child)
      return {child, address: `127.0.0.1:${p}`}
    })
    // Whichever wins, the other is refused: by the check before it starts, or by the claim's compare and the check after it.
    const loser = await waitFor(async () => racers.find((r) => r.child.gone()), 'one of the two to exit', 45_000)
    const winner = racers.find((r) => r !== loser)!
    expect(await loser.child.exited, loser.child.logs()).toBe(8)
    expect(loser.child.logs()).toMatch(/Error: node n2 is already running/)
    await waitFor(async () => {
      const alive = await ctx.store.get(ctx.keys.alive('n2'))
      return alive && JSON.parse(alive.value).pid === winner.child.pid ? true : undefined
    }, 'the winner to hold alive/n2', 30_000)
    expect(winner.child.gone(), winner.child.logs()).toBe(false)
    expect(JSON.parse((await ctx.store.get(ctx.keys.alive('n2')))!.value).address).toBe(winner.address)
    expect(JSON.parse((await ctx.store.get(ctx.keys.node('n2')))!.value).address).toBe(winner.address)
    await winner.child.kill()
  }, 90_000)
})

describe('a second node serve for a running node id', () => {
  it('exits 8 with one line naming the running process, and changes nothing: record, alive key, data dir; the keys stay readable', async () => {
    const before = await registration()
    expect(before.alive).toBeDefined()
    const second = await secondN1()
    expect(await exitedWithin(second.child, 30_000), second.child.logs()).toBe(8)
    const lines = second.child.logs().trim().split('\n')
    expect(lines, second.child.logs()).toHaveLength(1)
    expect(lines[0]).toMatch(new RegExp(`^Error: node n1 is already running in cluster "${cluster.name}": pid ${n1.pid} at 127\\.0\\.0\\.1:${port} \\(registered [^)]+\\) holds alive/n1 and answers as it; this process changed nothing — stop that process first`))
    expect(await registration()).toEqual(before)
    expect(existsSync(second.dir)).toBe(false)
    expect(await listening(second.port)).toBe(false)
    await expectKeysReadable()
  }, 60_000)

  it('does not take over a frozen (SIGSTOPped) n1 while its lease lives: it waits, changing nothing', async () => {
    const before = await registration()
    n1.signal('SIGSTOP')
    try {
      const second = await secondN1()
      await waitFor(async () => (/waiting up to \d+ ms for its lease to lapse/.test(second.child.logs()) ? true : undefined), 'the second process to wait for the lease', 30_000)
      // It keeps waiting (several polls of the key), neither taking over nor exiting.
      await new Promise((r) => setTimeout(r, 2000))
      expect(second.child.gone(), `${second.child.logs()}\nexit: ${second.child.gone() ? await second.child.exited : 'running'}`).toBe(false)
      expect(await registration()).toEqual(before)
      expect(existsSync(second.dir)).toBe(false)
      await second.child.kill()
    } finally {
      n1.signal('SIGCONT')
    }
    await waitFor(async () => {
      const alive = (await registration()).alive
      return alive && JSON.parse(alive.value).pid === n1.pid ? true : undefined
    }, 'n1 to hold alive/n1 again', 30_000)
    await expectKeysReadable()
  }, 90_000)

  it('a node restarted after SIGKILL serves at once: its dead predecessor does not answer, so its still-live alive key is taken over', async () => {
    const before = await registration()
    await n1.kill()
    n1 = await startN1()
    expect(n1.logs()).toMatch(/alive\/n1 is left by a process that is gone: taking it over/)
    // Judged once: the claim compares on the key as judged before listening (unchanged since), not probing the dead address again.
    expect(n1.logs().match(/taking it over/g), n1.logs()).toHaveLength(1)
    expect(n1.logs()).not.toMatch(/waiting up to/)
    const after = await registration()
    expect(JSON.parse(after.alive!.value).pid).toBe(n1.pid)
    expect(after.alive!.lease).not.toBe(before.alive!.lease)
    expect(after.record.address).toBe(`127.0.0.1:${port}`)
    await expectKeysReadable()
  }, 90_000)
})
