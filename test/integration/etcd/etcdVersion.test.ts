import {execFileSync} from 'node:child_process'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {etcdBugsIn} from '../../../src/etcd/etcdKnownBugs.js'
import {etcdVersionReport, warnOnEtcdBugs} from '../../../src/etcd/etcdVersionCheck.js'
import {type EtcdStore} from '../../../src/etcd/etcdStore.js'
import {MemoryStore} from '../../../src/store/memoryStore.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'

const stores = new StoreSet()
let store: EtcdStore

beforeAll(() => {
  store = stores.open(inject('etcdEndpoint'), uniqueCluster('version'))
})
afterAll(() => stores.closeAll())

/** installedVersion is what the etcd binary the tests run says it is. */
function installedVersion(): string {
  const out = execFileSync(process.env.ETCD_BIN ?? 'etcd', ['--version'], {encoding: 'utf8'})
  return /etcd Version: (\S+)/.exec(out)![1]!
}

describe('the etcd version check against a real etcd', () => {
  it("reports the version the etcd binary states and the known bugs of that version", async () => {
    const report = await etcdVersionReport(store)
    const version = installedVersion()
    expect(report?.version).toBe(version)
    expect(report?.bugs.map((b) => b.ref)).toEqual(etcdBugsIn(version)!.map((b) => b.ref))
    expect(report?.warning === null).toBe(report?.bugs.length === 0)
  })

  it('warns once with the one-line warning exactly when the version has known bugs, and never throws', async () => {
    const warned: string[] = []
    const failed: string[] = []
    await warnOnEtcdBugs(store, (l) => warned.push(l), (l) => failed.push(l))
    const report = await etcdVersionReport(store)
    expect(warned).toEqual(report!.warning ? [report!.warning] : [])
    expect(failed).toEqual([])
  })

  it('reports a failed check instead of throwing when etcd does not answer', async () => {
    const failed: string[] = []
    await warnOnEtcdBugs({serverVersion: () => Promise.reject(new Error('etcd unreachable'))}, () => {}, (l) => failed.push(l))
    expect(failed).toEqual([expect.stringContaining('etcd unreachable')])
  })

  it('knows nothing for the in-memory store', async () => {
    expect(await etcdVersionReport(new MemoryStore())).toBeUndefined()
  })
})
