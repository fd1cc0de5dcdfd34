import {afterAll, afterEach, beforeAll, describe, expect, inject, it} from 'vitest'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {type CliChild, spawnCli} from '../../support/cliChild.js'
import {exitedWithin, pollUntil} from '../../support/daemonProbe.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'
import {assertRouterDistFresh} from './routerProcess.js'

/**
 * A router whose log reader goes away (the pipe its stderr and stdout go to: `| tee`, a log
 * shipper or a supervisor's logger killed or restarted): its next line failed with EPIPE,
 * an 'error' event of process.stderr that nothing listened to, so an uncaught exception
 * ended the process. A SIGTERM (whose first act is a log line) then ended it with exit 1
 * and routers/<id> left for its lease's TTL (60 s here). It must stop cleanly without logs.
 */

const stores = new StoreSet()
const children: CliChild[] = []
let ctx: ServiceContext
let endpoint: string
let cluster: string

beforeAll(async () => {
  assertRouterDistFresh()
  endpoint = inject('etcdEndpoint')
  cluster = uniqueCluster('routerlostlog')
  ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
  // Placeholder ports: no node runs here (the router only needs a map to load).
  await initCluster(ctx, {shards: 4, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:1,n2=127.0.0.1:2'), force: false})
})

afterEach(async () => {
  await Promise.all(children.map((c) => c.kill()))
})

afterAll(() => stores.closeAll())

describe('router serve: its log reader gone', () => {
  it('stops on SIGTERM with exit 0 and routers/<id> revoked, though no log line can be written', async () => {
    const child = spawnCli(['router', 'serve', '--endpoints', endpoint, '--cluster', cluster, '--id', 'rl1', '--listen', '127.0.0.1:0', '--lease-ttl', '60', '--drain-timeout', '1s'])
    children.push(child)
    await pollUntil(child, 'routers/rl1 to appear', async () => (await ctx.store.get(ctx.keys.router('rl1'))) !== undefined)
    child.closeOutput()
    child.signal('SIGTERM')
    expect(await exitedWithin(child, 20_000)).toBe(0)
    expect(await ctx.store.get(ctx.keys.router('rl1'))).toBeUndefined()
  }, 60_000)
})
