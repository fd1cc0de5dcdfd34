import {describe, expect, it} from 'vitest'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {loadReport, watchLoadReport} from '../../src/stats/loadReport.js'
import {MemoryStore} from '../../src/store/memoryStore.js'

/** `shardctl stats --cluster <typo>` printed an empty report and exited 0; every other view of a cluster says it does not exist. */
describe('loadReport of a cluster that does not exist', () => {
  it('throws NOT_FOUND naming the cluster, once and for --watch, before any report', async () => {
    const store = new MemoryStore()
    const ctx = makeServiceContext(store, {cluster: 'load'})
    await initCluster(ctx, {shards: 2, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101'), force: false})
    expect((await loadReport(ctx)).shards).toHaveLength(2)
    const typo = makeServiceContext(store, {cluster: 'laod'})
    await expect(loadReport(typo)).rejects.toMatchObject({code: 'NOT_FOUND', message: 'cluster "laod" does not exist in etcd'})
    const reports: unknown[] = []
    await expect(watchLoadReport(typo, (r) => reports.push(r), {minIntervalMs: 10, signal: new AbortController().signal, maxReports: 1})).rejects.toMatchObject({code: 'NOT_FOUND'})
    expect(reports).toEqual([])
  })
})
