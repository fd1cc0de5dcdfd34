import {mkdtempSync, rmSync} from 'node:fs'
import {type AddressInfo, createServer, type Socket} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, inject, it} from 'vitest'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {NodeSchema} from '../../../src/model/node.js'
import {freePort} from '../../../src/localEtcd/freePort.js'
import {type CliChild, spawnCli} from '../../support/cliChild.js'
import {exitedWithin, listening, pollUntil} from '../../support/daemonProbe.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'
import {assertNodeDistFresh} from './nodeProcess.js'

/**
 * A SIGTERM while `node serve` is still starting must stop it gracefully: exit 0 with its
 * lease revoked (alive/<id>, stats and load pages gone at once), not Node's default action,
 * which killed the process between /healthz answering "serving" and the end of start-up
 * with alive/<id> left for its lease's TTL. The lease TTL here is 60 s, so a key still
 * there right after the exit was left behind, not yet expired.
 */

const stores = new StoreSet()
const dirs: string[] = []
const children: CliChild[] = []
let ctx: ServiceContext
let endpoint: string
let cluster: string
const ports: Record<string, number> = {}
/** SHARDS over two nodes at rf 1: enough held replicas that the first stats publish writes more than one load page. */
const SHARDS = 6000

beforeAll(async () => {
  assertNodeDistFresh()
  endpoint = inject('etcdEndpoint')
  cluster = uniqueCluster('startsignal')
  ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
  for (const id of ['n1', 'n2', 'n3']) ports[id] = await freePort()
  await initCluster(ctx, {shards: SHARDS, rf: 1, nodes: parseNodeSpecs(`n1=127.0.0.1:${ports.n1}@a,n2=127.0.0.1:${ports.n2}@b`), force: false})
  // n3 holds nothing: a node whose start only the identity check stops.
  await ctx.store.create(ctx.keys.node('n3'), JSON.stringify(NodeSchema.parse({id: 'n3', address: `127.0.0.1:${ports.n3}`, createdAt: new Date().toISOString()})))
})

afterEach(async () => {
  await Promise.all(children.map((c) => c.kill()))
})

afterAll(() => {
  stores.closeAll()
  for (const d of dirs) rmSync(d, {recursive: true, force: true})
})

function serve(id: string): CliChild {
  const dir = mkdtempSync(join(tmpdir(), `shardctl-startsignal-${id}-`))
  dirs.push(dir)
  const child = spawnCli(['node', 'serve', '--endpoints', endpoint, '--cluster', cluster, '--id', id, '--listen', `127.0.0.1:${ports[id]}`, '--data-dir', dir, '--lease-ttl', '60s'])
  children.push(child)
  return child
}

async function serving(id: string): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${ports[id]}/healthz`, {signal: AbortSignal.timeout(2000)})
  return ((await res.json()) as {serving: boolean}).serving
}

async function expectNothingLeased(id: string): Promise<void> {
  expect(await ctx.store.get(ctx.keys.alive(id))).toBeUndefined()
  expect(await ctx.store.get(ctx.keys.stats(id))).toBeUndefined()
  expect((await ctx.store.list(ctx.keys.nodeLoads(id))).items).toEqual([])
}

describe('node serve: SIGTERM during start-up', () => {
  it('SIGTERM as soon as /healthz says serving: exits 0, alive/stats/load pages revoked, not left to the TTL', async () => {
    const child = serve('n1')
    await pollUntil(child, '/healthz says serving', () => serving('n1'))
    // It was registered under a lease: the keys the stop must remove are there now.
    expect(await ctx.store.get(ctx.keys.alive('n1'))).toBeDefined()
    child.signal('SIGTERM')
    expect(await exitedWithin(child, 20_000)).toBe(0)
    expect(child.stdout()).toMatch(/node n1 stopped \(SIGTERM\)/)
    await expectNothingLeased('n1')
  })

  it('SIGTERM once its listener is up, before it serves: exits 0 and leaves nothing leased', async () => {
    const child = serve('n2')
    // The listener opens before registration, the map load and the lease.
    await pollUntil(child, 'its listener to accept', () => listening(ports.n2 ?? 0))
    child.signal('SIGTERM')
    expect(await exitedWithin(child, 20_000)).toBe(0)
    expect(child.stdout()).toMatch(/node n2 stopped \(SIGTERM\)/)
    await expectNothingLeased('n2')
  })

  it('a node stopped during start-up starts again and serves (nothing it left behind blocks it)', async () => {
    const child = serve('n2')
    await pollUntil(child, '/healthz says serving', () => serving('n2'))
    expect(await ctx.store.get(ctx.keys.alive('n2'))).toBeDefined()
    child.signal('SIGTERM')
    expect(await exitedWithin(child, 20_000)).toBe(0)
    await expectNothingLeased('n2')
  })
})

describe('node serve: SIGTERM while its claim waits on another holder', () => {
  it('a holder that appeared after the start-up check and does not answer: SIGTERM ends the wait, exits 0, its key left alone', async () => {
    // The holder's address accepts connections and never answers (a frozen process): the claim waits for its lease.
    const sockets: Socket[] = []
    const frozen = createServer((s) => sockets.push(s))
    await new Promise<void>((r) => frozen.listen(0, '127.0.0.1', r))
    const lease = await ctx.store.grantLease(60)
    try {
      const child = serve('n3')
      // Its listener opens after the start-up check found alive/n3 absent, before it claims the key.
      await pollUntil(child, 'its listener to accept', () => listening(ports.n3 ?? 0))
      const holder = {node: 'n3', address: `127.0.0.1:${(frozen.address() as AddressInfo).port}`, pid: 1, startedAt: new Date().toISOString(), instance: 'frozen-holder', leaseTtlSeconds: 60}
      const put = await ctx.store.put(ctx.keys.alive('n3'), JSON.stringify(holder), lease.id)
      // The claim's compare fails on the new key, which is judged afresh: silent, so it waits (up to 90 s here).
      await pollUntil(child, 'the claim to wait for the holder', async () => /does not answer .*waiting up to \d+ ms for its lease to lapse/.test(child.logs()))
      child.signal('SIGTERM')
      expect(await exitedWithin(child, 15_000), child.logs()).toBe(0)
      expect(child.stdout()).toMatch(/node n3 stopped \(SIGTERM\)/)
      expect((await ctx.store.get(ctx.keys.alive('n3')))?.modRevision).toBe(put)
      expect(await ctx.store.get(ctx.keys.stats('n3'))).toBeUndefined()
    } finally {
      await lease.revoke()
      for (const s of sockets) s.destroy()
      await new Promise((r) => frozen.close(r))
    }
  }, 60_000)
})
