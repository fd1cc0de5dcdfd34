import {cpSync, rmSync} from 'node:fs'
import {mkdtemp} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, inject, it} from 'vitest'
import {freePort} from '../../../src/localEtcd/freePort.js'
import {keyHash} from '../../../src/model/hash.js'
import {formatHlc} from '../../../src/model/hlc.js'
import {NodeMarkSchema} from '../../../src/model/node.js'
import {type Shard} from '../../../src/model/shard.js'
import {loadClusterToken} from '../../../src/node/clusterToken.js'
import {NodeClient} from '../../../src/node/nodeClient.js'
import {RESERVE_FILE} from '../../../src/node/diskReserve.js'
import {type CliChild} from '../../support/cliChild.js'
import {exitedWithin} from '../../support/daemonProbe.js'
import {waitFor} from '../router/dataPlane.js'
import {startNodeProcess} from './nodeProcess.js'
import {registerCluster, type RegisteredCluster} from './twoNodeCluster.js'

/**
 * A node frozen (SIGSTOP) past its lease is replaced: a new process claims its id (another
 * port, a copy of its data dir) and acknowledges writes. When the frozen one resumes it must not
 * serve, and its re-registration must not take the id back, not even once the new process
 * died: the new process's acknowledged writes are only in its data dir, so its restart must
 * find the id free, not held by the resumed process (which would refuse it, exit 8, and
 * serve a data dir without those writes, at an address the node record does not name).
 */

const children: CliChild[] = []
const dirs: string[] = []
const clusters: RegisteredCluster[] = []
let shard: Shard
let token: string

/** newCluster registers a 1-shard cluster of its own with node n1, whose record names `host` (default 127.0.0.1). */
async function newCluster(label: string, host?: string): Promise<RegisteredCluster> {
  const cluster = await registerCluster(inject('etcdEndpoint'), label, {shards: 1, rf: 1, nodes: ['n1'], host})
  clusters.push(cluster)
  return cluster
}

async function newDir(name: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), `shardctl-superseded-${name}-`))
  dirs.push(d)
  return d
}

/**
 * replicaOf copies data dir `from` to a new one, as a replacement process mounting the frozen
 * one's volume would see it: since session 32 a process on an empty dir is refused while the
 * id holds replicas (emptyDataDir.test.ts), so the replacement serves a copy, which carries the
 * dir's id. SQLite's shared-memory index (rebuilt on open) and the disk reserve (made again)
 * are left out.
 */
async function replicaOf(from: string, name: string): Promise<string> {
  const to = await newDir(name)
  cpSync(from, to, {recursive: true, filter: (src) => !src.endsWith('-shm') && !src.endsWith(RESERVE_FILE)})
  return to
}

function keyOf(prefix: string): Buffer {
  for (let i = 0; i < 100_000; i++) {
    const key = Buffer.from(`${prefix}-${i}`)
    if (keyHash(key) >= shard.range.lo && keyHash(key) < shard.range.hi) return key
  }
  throw new Error('no key in range')
}

async function withClient<T>(address: string, fn: (c: NodeClient) => Promise<T>): Promise<T> {
  const c = new NodeClient({node: 'n1', address, token, timeoutMs: 5000})
  try {
    return await fn(c)
  } finally {
    await c.destroy()
  }
}

afterAll(async () => {
  for (const c of children) c.signal('SIGCONT')
  await Promise.all(children.map((c) => c.kill()))
  for (const c of clusters) c.close()
  for (const d of dirs) rmSync(d, {recursive: true, force: true})
})

describe('a node frozen past its lease and replaced', () => {
  it('does not serve when it resumes and never takes its id back: the replacement, killed, restarts and serves its writes', async () => {
    const cluster = await newCluster('superseded')
    const port1 = cluster.ports.n1!
    const port2 = await freePort()
    shard = cluster.shards[0]!
    const dir1 = await newDir('first')

    const first = await startNodeProcess({...cluster.connection, id: 'n1', port: port1, dataDir: dir1, leaseTtl: '2s'})
    children.push(first)
    token = await loadClusterToken(cluster.ctx, {create: false})
    first.signal('SIGSTOP')
    const dir2 = await replicaOf(dir1, 'second')
    // Its lease lapses: etcd deletes alive/n1, and a new process claims the id at once.
    await waitFor(async () => ((await cluster.alivePid('n1')) === undefined ? true : undefined), 'the frozen node lease to lapse', 20_000)
    let second = await startNodeProcess({...cluster.connection, id: 'n1', port: port2, dataDir: dir2, leaseTtl: '2s'})
    children.push(second)
    const key = keyOf('acked')
    await withClient(`127.0.0.1:${port2}`, (c) => c.apply(shard.id, shard.epoch, [{key, version: formatHlc({wall: Date.now(), counter: 0, writer: 'test'}), value: Buffer.from('acked-by-second')}]))

    first.signal('SIGCONT')
    // Several re-registration attempts (backoff 250 ms, 500 ms, 1 s, ...): none may claim, the resumed node may not serve.
    await new Promise((r) => setTimeout(r, 4000))
    expect(await cluster.alivePid('n1'), first.logs().slice(-3000)).toBe(second.pid)
    expect(JSON.parse((await cluster.ctx.store.get(cluster.ctx.keys.node('n1')))!.value).address).toBe(`127.0.0.1:${port2}`)
    if (!first.gone()) {
      const health = await withClient(`127.0.0.1:${port1}`, (c) => c.health({timeoutMs: 5000}))
      expect(health.serving).toBe(false)
    }

    // The replacement dies; a supervisor restarts it a few seconds later, on its port and data dir.
    await second.kill()
    await new Promise((r) => setTimeout(r, 8000))
    expect(await cluster.alivePid('n1'), first.logs().slice(-3000)).not.toBe(first.pid)
    second = await startNodeProcess({...cluster.connection, id: 'n1', port: port2, dataDir: dir2, leaseTtl: '2s'}, 30_000)
    children.push(second)
    const got = await withClient(`127.0.0.1:${port2}`, (c) => c.get(shard.id, shard.epoch, key))
    expect(got.record?.value?.toString()).toBe('acked-by-second')
    expect(await cluster.alivePid('n1')).toBe(second.pid)
    await second.kill()
    await first.kill()
  }, 120_000)
})

describe('exit of a superseded node', () => {
  it('a resumed node whose id another process serves exits (non-zero) instead of retrying forever', async () => {
    // A cluster of its own: the test above leaves its n1 in whatever state it failed in.
    const cluster2 = await newCluster('superseded2')
    const port1 = cluster2.ports.n1!
    const port2 = await freePort()
    const dir1 = await newDir('first2')
    const first = await startNodeProcess({...cluster2.connection, id: 'n1', port: port1, dataDir: dir1, leaseTtl: '2s'})
    children.push(first)
    first.signal('SIGSTOP')
    const dir2 = await replicaOf(dir1, 'second2')
    await waitFor(async () => ((await cluster2.alivePid('n1')) === undefined ? true : undefined), 'the frozen node lease to lapse', 20_000)
    const second = await startNodeProcess({...cluster2.connection, id: 'n1', port: port2, dataDir: dir2, leaseTtl: '2s'})
    children.push(second)
    first.signal('SIGCONT')
    expect(await exitedWithin(first, 15_000), first.logs().slice(-3000)).toBe(8)
    expect(first.logs()).toMatch(/node n1 is served by another process now/)
    expect(await cluster2.alivePid('n1')).toBe(second.pid)
    await second.kill()
  }, 90_000)
})

describe('a running node whose alive key another process takes over', () => {
  it('stops serving and exits 8 at once: two processes never both serve one id, whatever made the other misjudge it dead', async () => {
    // n1 advertises an address that refuses connections from where the second process runs
    // (here 127.0.0.2, where nothing listens; in the field a host name that /etc/hosts maps to
    // 127.0.1.1 on the node's own host): the second process's probe is refused, so it takes
    // alive/n1 over as a dead holder's while n1 runs and holds its lease.
    const cluster3 = await newCluster('superseded3', '127.0.0.2')
    const port1 = cluster3.ports.n1!
    const port2 = await freePort()
    const dir1 = await newDir('first3')
    const first = await startNodeProcess({...cluster3.connection, id: 'n1', port: port1, dataDir: dir1, leaseTtl: '3s', extra: ['--advertise', `127.0.0.2:${port1}`]})
    children.push(first)
    // Copied while it runs idle (it has written nothing since it registered), once its
    // registration's write mark is published: that publish runs after the node serves, and a
    // copy taken before its raise is rightly refused as older than the published mark (a CI run
    // on a loaded machine copied first).
    await waitFor(async () => ((await cluster3.ctx.store.getTyped(cluster3.ctx.keys.mark('n1'), NodeMarkSchema))?.value.mark ?? 0) > 0 || undefined, 'n1 to publish its registration mark', 20_000)
    const second = await startNodeProcess({...cluster3.connection, id: 'n1', port: port2, dataDir: await replicaOf(dir1, 'second3'), leaseTtl: '3s'})
    children.push(second)
    expect(second.logs()).toMatch(/alive\/n1 is left by a process that is gone: taking it over/)
    expect(await cluster3.alivePid('n1')).toBe(second.pid)
    const outcome = await exitedWithin(first, 10_000)
    const still = outcome === 'still running' ? await withClient(`127.0.0.1:${port1}`, (c) => c.health({timeoutMs: 5000})).catch(() => undefined) : undefined
    expect({outcome, serving: still?.serving}, first.logs().slice(-3000)).toEqual({outcome: 8, serving: undefined})
    expect(first.logs()).toMatch(/node n1 is served by another process now in cluster "[^"]+": pid \d+ at 127\.0\.0\.1:\d+ wrote alive\/n1 over this process's claim/)
    expect(await cluster3.alivePid('n1')).toBe(second.pid)
    await second.kill()
  }, 90_000)
})
