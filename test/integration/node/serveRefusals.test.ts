import {existsSync, rmSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, inject, it} from 'vitest'
import {freePort} from '../../../src/localEtcd/freePort.js'
import {type CliChild} from '../../support/cliChild.js'
import {exitedWithin} from '../../support/daemonProbe.js'
import {type NodeProcessOptions, spawnNodeProcess} from './nodeProcess.js'
import {registerCluster, type RegisteredCluster} from './twoNodeCluster.js'

/**
 * What `node serve` refuses at start, as an operator meets it: one line, a documented exit
 * code, nothing registered.
 *
 * `node serve --data-dir /proc/nope` used to spin at 100 % CPU and ignore SIGTERM: Node 20's
 * recursive mkdir loops forever when the parent refuses children with ENOENT. It must fail
 * at once with one line naming the data dir and why, exit 2 (BAD_INPUT), registering nothing.
 */

const children: CliChild[] = []
const dirs: string[] = []
let cluster: RegisteredCluster
let port: number

/** serveRefused spawns a `node serve` that is to refuse its start: only the flags the test names, none of the test tuning. */
function serveRefused(opts: Omit<NodeProcessOptions, 'endpoint' | 'cluster' | 'statsInterval' | 'leaseTtl'>): CliChild {
  const child = spawnNodeProcess({...cluster.connection, ...opts, statsInterval: null, leaseTtl: null})
  children.push(child)
  return child
}

beforeAll(async () => {
  cluster = await registerCluster(inject('etcdEndpoint'), 'serverefuse', {shards: 4, rf: 1, nodes: ['n1']})
  port = cluster.ports.n1!
})

afterEach(async () => {
  await Promise.all(children.map((c) => c.kill()))
})

afterAll(() => {
  cluster?.close()
  for (const d of dirs) rmSync(d, {recursive: true, force: true})
})

describe('node serve: an unusable --data-dir', () => {
  it.skipIf(!existsSync('/proc/self'))('a data dir under /proc: exits 2 within seconds with one line naming the dir and why, and leaves nothing registered', async () => {
    const child = serveRefused({id: 'n1', port, dataDir: '/proc/nope/n1'})
    expect(await exitedWithin(child, 20_000), child.logs()).toBe(2)
    expect(child.logs().trim().split('\n')).toEqual([expect.stringMatching(/^Error: cannot open data dir \/proc\/nope\/n1: no such file or directory — /)])
    expect(await cluster.ctx.store.get(cluster.ctx.keys.alive('n1'))).toBeUndefined()
  }, 30_000)
})

describe('node serve: an id the cluster does not have', () => {
  it('exits 1 (NOT_FOUND) with one line naming the id and the `node add` to run first, registering nothing and creating no data dir', async () => {
    const dir = join(tmpdir(), `shardctl-unknown-id-${process.pid}`)
    dirs.push(dir)
    const n9 = await freePort()
    const child = serveRefused({id: 'n9', port: n9, dataDir: dir, extra: ['--zone', 'b']})
    expect(await exitedWithin(child, 20_000), child.logs()).toBe(1)
    expect(child.logs().trim().split('\n')).toEqual([`Error: node n9 is not in cluster "${cluster.name}": node serve runs a node the cluster already has (a typo in --id, or a removed node?) — add it first with \`shardctl node add n9 --address 127.0.0.1:${n9} --zone b\`, or see \`shardctl node list\``])
    expect(await cluster.ctx.store.get(cluster.ctx.keys.node('n9'))).toBeUndefined()
    expect(existsSync(dir)).toBe(false)
  }, 30_000)
})

describe('node serve: a bad --disk-reserve', () => {
  it('a value that is not auto or a size: exits 2 with one line naming the value and the forms, and creates no data dir', async () => {
    const dataDir = join(tmpdir(), `shardctl-serverefuse-reserve-${process.pid}`)
    dirs.push(dataDir)
    const child = serveRefused({id: 'n1', port, dataDir, extra: ['--disk-reserve', 'lots']})
    expect(await exitedWithin(child, 20_000), child.logs()).toBe(2)
    const lines = child.logs().trim().split('\n')
    expect(lines, child.logs()).toHaveLength(1)
    expect(lines[0]).toMatch(/--disk-reserve.*"lots" is not a disk reserve size; use auto, 0 \(off\) or a size such as 64MiB/)
    expect(existsSync(dataDir)).toBe(false)
  }, 30_000)
})

describe('node serve: a bad SHARDCTL_COPY_FRAME_SLABS (and the other tuning variables)', () => {
  it('a value that is not a whole number from 0 to 64: exits 2 with one line naming the variable, the value and the range, creating no data dir and registering nothing (until session 39 it silently meant 10)', async () => {
    const dataDir = join(tmpdir(), `shardctl-serverefuse-slabs-${process.pid}`)
    dirs.push(dataDir)
    const child = serveRefused({id: 'n1', port, dataDir, env: {SHARDCTL_COPY_FRAME_SLABS: '100'}})
    expect(await exitedWithin(child, 20_000), child.logs()).toBe(2)
    expect(child.logs().trim().split('\n')).toEqual(['Error: SHARDCTL_COPY_FRAME_SLABS: "100" is not a whole number from 0 to 64 — unset it for the default 10, or set 0 for none'])
    expect(existsSync(dataDir)).toBe(false)
    expect(await cluster.ctx.store.get(cluster.ctx.keys.alive('n1'))).toBeUndefined()
  }, 30_000)

  it('the other tuning variables too: a SHARDCTL_SQLITE_PAGE_SIZE that is no SQLite page size exits 2 with one line, changing nothing (until session 39 SQLite ignored it while the WAL bookkeeping counted pages of that size)', async () => {
    const dataDir = join(tmpdir(), `shardctl-serverefuse-page-${process.pid}`)
    dirs.push(dataDir)
    const child = serveRefused({id: 'n1', port, dataDir, env: {SHARDCTL_SQLITE_PAGE_SIZE: '16000'}})
    expect(await exitedWithin(child, 20_000), child.logs()).toBe(2)
    expect(child.logs().trim().split('\n')).toEqual(['Error: SHARDCTL_SQLITE_PAGE_SIZE: "16000" is not a power of two from 512 to 65536 — unset it for the default 16384 (it applies to a new data dir only)'])
    expect(existsSync(dataDir)).toBe(false)
    expect(await cluster.ctx.store.get(cluster.ctx.keys.alive('n1'))).toBeUndefined()
  }, 30_000)
})

describe('node serve: a taken --listen port', () => {
  it('exits 2 with one line naming the address, creating no data dir and no disk reserve (it listens before it opens the data dir)', async () => {
    const dataDir = join(tmpdir(), `shardctl-serverefuse-taken-${process.pid}`)
    dirs.push(dataDir)
    const squatter = createServer()
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r))
    const taken = (squatter.address() as {port: number}).port
    try {
      // Its record points at the taken port, so the refusal is the listen, not a probe of a holder.
      const child = serveRefused({id: 'n1', port: taken, dataDir})
      expect(await exitedWithin(child, 20_000), child.logs()).toBe(2)
      expect(child.logs().trim().split('\n')).toEqual([`Error: cannot listen on 127.0.0.1:${taken}: EADDRINUSE — pick a free --listen HOST:PORT`])
      expect(existsSync(dataDir)).toBe(false)
      expect(await cluster.ctx.store.get(cluster.ctx.keys.alive('n1'))).toBeUndefined()
    } finally {
      await new Promise((r) => squatter.close(r))
    }
  }, 30_000)
})
