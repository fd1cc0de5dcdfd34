import {afterAll, beforeAll, describe, expect, inject, it, vi} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {type EtcdStore} from '../../../src/etcd/etcdStore.js'
import {acquireLock, type HeldLock} from '../../../src/etcd/leaseLock.js'
import {setThrottle} from '../../../src/executor/controlService.js'
import {recordPlanMoves} from '../../../src/executor/moveRecording.js'
import {listMoves} from '../../../src/executor/moveStore.js'
import {applySplit} from '../../../src/executor/splitShard.js'
import {type SplitAction} from '../../../src/model/plan.js'
import {ShardSchema} from '../../../src/model/shard.js'
import {loseAnswer, startTcpProxy, type TcpProxy} from '../../support/tcpProxy.js'
import {moveOf} from '../../executor/fixtures.js'
import {commitsThrough, StoreSet, uniqueCluster} from '../../support/testStore.js'

// The executor's and the operator's writes when etcd3 resends a commit whose answer was lost
// (the first attempt landed): see test/integration/etcd/lostCommitAnswer.test.ts for the store.
const stores = new StoreSet()
const locks: HeldLock[] = []
let proxy: TcpProxy
let direct: ServiceContext
let proxied: ServiceContext

beforeAll(async () => {
  const cluster = uniqueCluster('lostanswer-exec')
  proxy = await startTcpProxy(inject('etcdEndpoint'))
  direct = makeServiceContext(stores.open(inject('etcdEndpoint'), cluster), {cluster})
  // Only the transactions go through the proxy: loseAnswer holds back every answer on it.
  proxied = makeServiceContext(commitsThrough(direct.store as EtcdStore, stores.open(proxy.endpoint, cluster)), {cluster})
  await initCluster(direct, {shards: 2, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101'), force: false})
})
afterAll(async () => {
  await Promise.all(locks.map((l) => l.release()))
  stores.closeAll()
  await proxy.close()
})

async function warm(): Promise<void> {
  await vi.waitFor(() => proxied.store.commit({compares: [], deletes: [proxied.keys.node('warm')]}), {timeout: 10_000, interval: 100})
}

describe('executor and control writes whose answer was lost', () => {
  it('Given `throttle set` whose write landed, When its answer is lost, Then it says the throttle was set, not "already set"', async () => {
    await warm()

    const r = await loseAnswer(proxy, () => setThrottle(proxied, 7 * 1024 * 1024), async () => (await direct.store.get(direct.keys.control))?.value.includes('7340032') ?? false)

    expect(r.changed).toBe(true)
    expect(r.message).toMatch(/^throttle set to 7.0 MiB\/s/)
  })

  it('Given a split whose fenced transaction landed, When its answer is lost, Then it reports done, not CONFLICT', async () => {
    const lock = await acquireLock(direct.store, direct.keys.executorLock, 'splitter', 10)
    locks.push(lock)
    const shard = (await listShards(direct)).shards.map((s) => s.value).find((s) => s.id === 0)!
    const at = shard.range.lo + Math.floor((shard.range.hi - shard.range.lo) / 2)
    const next = 2
    const action: SplitAction = {
      kind: 'split',
      shard: 0,
      epoch: shard.epoch,
      at,
      parts: [
        {shard: 0, range: {lo: shard.range.lo, hi: at}, epoch: shard.epoch + 1},
        {shard: next, range: {lo: at, hi: shard.range.hi}, epoch: shard.epoch + 1},
      ],
      reason: {kind: 'split', detail: 'test'},
    }
    await warm()

    const out = await loseAnswer(proxy, () => applySplit(proxied, lock.fence, action), async () => (await direct.store.getTyped(direct.keys.shard(next), ShardSchema)) !== undefined)

    expect(out).toEqual({status: 'done'})
  })

  it('Given an apply recording its plan\'s moves whose transaction landed, When its answer is lost, Then recording succeeds instead of CONFLICT (exit 7, "recorded concurrently")', async () => {
    const lock = locks[0] ?? (await acquireLock(direct.store, direct.keys.executorLock, 'recorder', 10))
    if (!locks.includes(lock)) locks.push(lock)
    const moves = [0, 1].map((i) => moveOf({id: `rec-${i}`, plan: 'rec', index: i, shard: i, from: 'n1', to: 'n2'}))
    await warm()

    await loseAnswer(proxy, () => recordPlanMoves(proxied, lock, 'rec', moves), async () => (await listMoves(direct)).some((m) => m.value.id === 'rec-0'))

    expect((await listMoves(direct)).map((m) => m.value.id).filter((id) => id.startsWith('rec-'))).toEqual(['rec-0', 'rec-1'])
  })
})
