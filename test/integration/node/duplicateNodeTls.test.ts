import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {setClusterSecurity} from '../../../src/security/clusterSecurity.js'
import {loadTlsMaterial, type TlsMaterial} from '../../../src/transport/tlsMaterial.js'
import {type CliChild} from '../../support/cliChild.js'
import {exitedWithin} from '../../support/daemonProbe.js'
import {DataPlanePki, tlsEnvOf} from '../../support/dataPlanePki.js'
import {spawnNodeProcess, startNodeProcess} from './nodeProcess.js'
import {registerCluster, type RegisteredCluster} from './twoNodeCluster.js'

/**
 * The identity check in a TLS-only cluster: the holder's /healthz is probed over mutual TLS
 * with the starter's own certificate. Were the probe to fail the handshake it would read as
 * `silent`: a second process would wait out a live holder's lease before refusing, and a node
 * restarted on its port after SIGKILL (probing itself to tell its predecessor gone) would wait
 * out its dead predecessor's lease before serving.
 */

const children: CliChild[] = []
let dir: string
let cluster: RegisteredCluster
let pki: DataPlanePki
let clientTls: TlsMaterial
let port: number
let env: Record<string, string>

beforeAll(async () => {
  cluster = await registerCluster(inject('etcdEndpoint'), 'duptls', {shards: 1, rf: 1, nodes: ['n1']})
  port = cluster.ports.n1!
  dir = mkdtempSync(join(tmpdir(), 'shardctl-duptls-'))
  pki = await DataPlanePki.create()
  await setClusterSecurity(cluster.ctx, {tlsOnly: true})
  clientTls = loadTlsMaterial(await pki.issue('executor', 'client'), 'certificate')!
  env = tlsEnvOf(await pki.issue('n1', 'node'))
}, 60_000)

afterAll(async () => {
  await Promise.all(children.map((c) => c.kill()))
  cluster?.close()
  if (dir) rmSync(dir, {recursive: true, force: true})
  pki?.remove()
})

describe('one process per node id over mutual TLS', () => {
  it('a second process is refused as running (its probe answered over TLS, no lease wait), and a restart after SIGKILL on the same port serves at once', async () => {
    // A 20 s lease, still held when the restart claims the id: a probe that failed over TLS would make it wait that out.
    let n1 = await startNodeProcess({...cluster.connection, id: 'n1', port, dataDir: join(dir, 'n1'), env, tls: clientTls, leaseTtl: '20s'})
    children.push(n1)
    const second = spawnNodeProcess({...cluster.connection, id: 'n1', port: 0, dataDir: join(dir, 'second'), leaseTtl: '20s', statsInterval: null, env})
    children.push(second)
    expect(await exitedWithin(second, 15_000), second.logs()).toBe(8)
    expect(second.logs()).toMatch(/node n1 is already running/)
    expect(second.logs()).not.toMatch(/waiting up to/)

    await n1.kill()
    n1 = await startNodeProcess({...cluster.connection, id: 'n1', port, dataDir: join(dir, 'n1'), env, tls: clientTls, leaseTtl: '20s'}, 45_000)
    children.push(n1)
    // It took over its dead predecessor's alive/n1 (lease still held) on the refused probe, without waiting for the lease.
    const takeover = n1.logs().split('\n').filter((l) => l.includes('is left by a process that is gone: taking it over'))
    expect(takeover.map((l) => (JSON.parse(l) as {why?: string}).why), n1.logs()).toEqual(['connection refused'])
    expect(n1.logs()).not.toMatch(/waiting up to/)
    expect(await cluster.alivePid('n1')).toBe(n1.pid)
    await n1.kill()
  }, 120_000)
})
