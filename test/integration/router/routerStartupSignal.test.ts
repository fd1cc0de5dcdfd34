import {afterAll, afterEach, beforeAll, describe, expect, inject, it} from 'vitest'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {freePort} from '../../../src/localEtcd/freePort.js'
import {type CliChild, spawnCli} from '../../support/cliChild.js'
import {exitedWithin, listening, pollUntil} from '../../support/daemonProbe.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'
import {assertRouterDistFresh} from './routerProcess.js'

/**
 * A SIGTERM while `router serve` is still starting (loading the shard map, registering under
 * its lease) must stop it gracefully once started: exit 0 with routers/<id> revoked, not
 * Node's default action (death by the signal, routers/<id> left for its lease's TTL). The
 * lease TTL here is 60 s, so a key still there right after the exit was left behind.
 */

const stores = new StoreSet()
const children: CliChild[] = []
let ctx: ServiceContext
let endpoint: string
let cluster: string
/** SHARDS: a map large enough that loading it keeps the router busy for a while after its listener opens. */
const SHARDS = 6000

beforeAll(async () => {
  assertRouterDistFresh()
  endpoint = inject('etcdEndpoint')
  cluster = uniqueCluster('routersignal')
  ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
  // Placeholder ports: no node runs here (the router only needs a map to load).
  await initCluster(ctx, {shards: SHARDS, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:1@a,n2=127.0.0.1:2@b'), force: false})
})

afterEach(async () => {
  await Promise.all(children.map((c) => c.kill()))
})

afterAll(() => stores.closeAll())

/** serve starts router `id` on `port` (0: any free port). */
function serve(id: string, port: number): CliChild {
  const child = spawnCli(['router', 'serve', '--endpoints', endpoint, '--cluster', cluster, '--id', id, '--listen', `127.0.0.1:${port}`, '--lease-ttl', '60', '--drain-timeout', '1s'])
  children.push(child)
  return child
}

describe('router serve: SIGTERM during start-up', () => {
  it('SIGTERM once its listener accepts, before it has registered: exits 0 and leaves no routers/<id>', async () => {
    // A chosen port: the test must find the listener before the router registers, and a port-0
    // router names its port only on its ready line, printed after it registered.
    const port = await freePort()
    const child = serve('rs1', port)
    await pollUntil(child, 'its listener to accept', () => listening(port))
    child.signal('SIGTERM')
    expect(await exitedWithin(child, 20_000)).toBe(0)
    expect(await ctx.store.get(ctx.keys.router('rs1'))).toBeUndefined()
  })

  it('SIGTERM as soon as routers/<id> appears: exits 0 and routers/<id> is revoked, not left to the TTL', async () => {
    const child = serve('rs2', 0)
    await pollUntil(child, 'routers/rs2 to appear', async () => (await ctx.store.get(ctx.keys.router('rs2'))) !== undefined)
    child.signal('SIGTERM')
    expect(await exitedWithin(child, 20_000)).toBe(0)
    expect(await ctx.store.get(ctx.keys.router('rs2'))).toBeUndefined()
  })
})
