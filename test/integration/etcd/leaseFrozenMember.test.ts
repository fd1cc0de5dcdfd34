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

/** etcdRevoked: the loss etcd3 reports when etcd answers a keepalive with TTL 0 (etcd no longer holds the lease), as against the holder's own deadline (leaseHandle.ts). */
const etcdRevoked = (message: string) => /^Lease \d+ is expired or revoked$/.test(message)

describe('a lease while one etcd member of three is frozen', () => {
  it('Given a 5 s lease with a key on it, When each member in turn is frozen for 6 s (longer than the TTL) and thawed, Then the holder never counts the lease lost while etcd holds it, and its key stays', async () => {
    const key = '/shardctl/frozen-member/k'
    const grant = async () => {
      const lease = await store.grantLease(5)
      const lostAt: string[] = []
      lease.onLost((err) => lostAt.push(err.message))
      await store.put(key, 'v', lease.id)
      return {lease, lostAt}
    }
    let held = await grant()
    for (let i = 0; i < 3; i++) {
      const before = await cluster.leader()
      const wasLeader = typeof before !== 'string' && before.leader.index === i
      cluster.freeze(i)
      await sleep(6000)
      cluster.thaw(i)
      await sleep(1500)
      // etcd-io/etcd#15247 (Debian's etcd 3.4.23 has it; src/etcd/etcdKnownBugs.ts): a leader
      // stalled past an election revokes leases once it resumes. That loss is etcd's (the key
      // is gone from etcd too), not the holder misjudging a lease etcd still holds; the holder
      // must then have heard it from etcd itself. Grant again and go on with the next member.
      if (wasLeader && held.lostAt.length > 0 && held.lostAt.every(etcdRevoked) && (await store.get(key)) === undefined) {
        console.info(`m${i + 1}, the leader, revoked the lease once thawed (etcd-io/etcd#15247): granted again`)
        held = await grant()
        continue
      }
      expect(held.lostAt, `after m${i + 1} was frozen${wasLeader ? ' (the leader)' : ''}`).toEqual([])
    }
    expect(held.lease.lost).toBe(false)
    expect((await store.get(key))?.value).toBe('v')
    await held.lease.revoke()
  }, 120_000)
})
