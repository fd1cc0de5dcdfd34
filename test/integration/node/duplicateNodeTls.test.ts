import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {freePort} from '../../../src/localEtcd/freePort.js'
import {setClusterSecurity} from '../../../src/security/clusterSecurity.js'
import {loadTlsMaterial, type TlsMaterial} from '../../../src/transport/tlsMaterial.js'
import {type CliChild, spawnCli} from '../../support/cliChild.js'
import {exitedWithin} from '../../support/daemonProbe.js'
import {DataPlanePki, tlsEnvOf} from '../../support/dataPlanePki.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'
import {startNodeProcess} from './nodeProcess.js'

/**
 * The identity check in a TLS-only cluster: the holder's /healthz is probed over mutual TLS
 * with the starter's own certificate. Were the probe to fail the handshake it would read as
 * `silent`: a second process would wait out a live holder's lease before refusing, and a node
 * restarted on its port after SIGKILL (probing itself to tell its predecessor gone) would wait
 * out its dead predecessor's lease before serving.
 */

const stores = new StoreSet()
const children: CliChild[] = []
let dir: string
let ctx: ServiceContext
let endpoint: string
let cluster: string
let pki: DataPlanePki
let clientTls: TlsMaterial
let port: number
let env: Record<string, string>

beforeAll(async () => {
  endpoint = inject('etcdEndpoint')
  cluster = uniqueCluster('duptls')
  ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
  dir = mkdtempSync(join(tmpdir(), 'shardctl-duptls-'))
  pki = await DataPlanePki.create()
  port = await freePort()
  await initCluster(ctx, {shards: 1, rf: 1, nodes: parseNodeSpecs(`n1=127.0.0.1:${port}`), force: false})
  await setClusterSecurity(ctx, {tlsOnly: true})
  clientTls = loadTlsMaterial(await pki.issue('executor', 'client'), 'certificate')!
  env = tlsEnvOf(await pki.issue('n1', 'node'))
}, 60_000)

afterAll(async () => {
  await Promise.all(children.map((c) => c.kill()))
  stores.closeAll()
  rmSync(dir, {recursive: true, force: true})
  pki?.remove()
})

describe('one process per node id over mutual TLS', () => {
  it('a second process is refused as running (its probe answered over TLS, no lease wait), and a restart after SIGKILL on the same port serves at once', async () => {
    // A 20 s lease: a probe that failed over TLS would show as a wait of 30 s, far past the bounds below.
    let n1 = await startNodeProcess({endpoint, cluster, id: 'n1', port, dataDir: join(dir, 'n1'), env, tls: clientTls, leaseTtl: '20s'})
    children.push(n1)
    const second = spawnCli(['node', 'serve', '--endpoints', endpoint, '--cluster', cluster, '--id', 'n1', '--listen', `127.0.0.1:${await freePort()}`, '--data-dir', join(dir, 'second'), '--lease-ttl', '20s'], env)
    children.push(second)
    expect(await exitedWithin(second, 15_000), second.logs()).toBe(8)
    expect(second.logs()).toMatch(/node n1 is already running/)
    expect(second.logs()).not.toMatch(/waiting up to/)

    await n1.kill()
    const started = Date.now()
    n1 = await startNodeProcess({endpoint, cluster, id: 'n1', port, dataDir: join(dir, 'n1'), env, tls: clientTls, leaseTtl: '20s'}, 45_000)
    children.push(n1)
    expect(n1.logs()).not.toMatch(/waiting up to/)
    expect(Date.now() - started).toBeLessThan(15_000)
    expect(JSON.parse((await ctx.store.get(ctx.keys.alive('n1')))!.value).pid).toBe(n1.pid)
    await n1.kill()
  }, 120_000)
})
