import {existsSync} from 'node:fs'
import {afterAll, afterEach, beforeAll, describe, expect, inject, it} from 'vitest'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {freePort} from '../../../src/localEtcd/freePort.js'
import {type CliChild, spawnCli} from '../../support/cliChild.js'
import {exitedWithin} from '../../support/daemonProbe.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'
import {assertNodeDistFresh} from './nodeProcess.js'

/**
 * `node serve --data-dir /proc/nope` used to spin at 100 % CPU and ignore SIGTERM: Node 20's
 * recursive mkdir loops forever when the parent refuses children with ENOENT. It must fail
 * at once with one line naming the data dir and why, exit 2 (BAD_INPUT), registering nothing.
 */

const stores = new StoreSet()
const children: CliChild[] = []
let ctx: ServiceContext
let endpoint: string
let cluster: string
let port: number

beforeAll(async () => {
  assertNodeDistFresh()
  endpoint = inject('etcdEndpoint')
  cluster = uniqueCluster('datadir')
  ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
  port = await freePort()
  await initCluster(ctx, {shards: 4, rf: 1, nodes: parseNodeSpecs(`n1=127.0.0.1:${port}`), force: false})
})

afterEach(async () => {
  await Promise.all(children.map((c) => c.kill()))
})

afterAll(() => stores.closeAll())

describe('node serve: an unusable --data-dir', () => {
  it.skipIf(!existsSync('/proc/self'))('a data dir under /proc: exits 2 within seconds with one line naming the dir and why, and leaves nothing registered', async () => {
    const child = spawnCli(['node', 'serve', '--endpoints', endpoint, '--cluster', cluster, '--id', 'n1', '--listen', `127.0.0.1:${port}`, '--data-dir', '/proc/nope/n1'])
    children.push(child)
    expect(await exitedWithin(child, 20_000), child.logs()).toBe(2)
    expect(child.logs().trim().split('\n')).toEqual([expect.stringMatching(/^Error: cannot open data dir \/proc\/nope\/n1: ENOENT: no such file or directory, mkdir '\/proc\/nope' — /)])
    expect(await ctx.store.get(ctx.keys.alive('n1'))).toBeUndefined()
  }, 30_000)
})
