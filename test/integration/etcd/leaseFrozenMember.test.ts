import {setTimeout as sleep} from 'node:timers/promises'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {EtcdStore} from '../../../src/etcd/etcdStore.js'
import {EtcdCluster} from '../../chaos/etcdCluster.js'

/**
 * A lease kept alive through a 3-member etcd cluster while one member at a time is frozen
 * (SIGSTOP: its connections stay open, it answers nothing), the cluster healthy all along.
 * etcd3 keeps a lease alive on one stream to one member and notices a silent one only after a
 * whole TTL; the lease is declared lost at 0.9 TTL. Until session 35 the freeze of whichever
 * member carried the stream lost the lease: an `apply` stopped (its executor lock gone) and a
 * node or router stopped serving, for one frozen member of three. Now keepalives also go to
 * every member once three in a row go unanswered (src/etcd/keepaliveHedge.ts).
 */
let cluster: EtcdCluster
let store: EtcdStore

beforeAll(async () => {
  cluster = await EtcdCluster.start(3)
  store = new EtcdStore({endpoints: cluster.endpoints.split(','), source: 'test', cluster: 'frozen-member'})
}, 120_000)

afterAll(async () => {
  store?.close()
  await cluster?.dispose()
})

describe('a lease while one etcd member of three is frozen', () => {
  it('Given a 5 s lease with a key on it, When each member in turn is frozen for 6 s (longer than the TTL) and thawed, Then the lease is never declared lost and its key stays', async () => {
    const lease = await store.grantLease(5)
    const lostAt: string[] = []
    lease.onLost((err) => lostAt.push(err.message))
    await store.put('/shardctl/frozen-member/k', 'v', lease.id)
    for (let i = 0; i < 3; i++) {
      cluster.freeze(i)
      await sleep(6000)
      cluster.thaw(i)
      await sleep(1500)
      expect(lostAt, `after m${i + 1} was frozen`).toEqual([])
    }
    expect(lease.lost).toBe(false)
    expect((await store.get('/shardctl/frozen-member/k'))?.value).toBe('v')
    await lease.revoke()
  }, 120_000)
})
