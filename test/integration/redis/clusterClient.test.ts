import {setTimeout as sleepFor} from 'node:timers/promises'
import {afterEach, describe, expect, it} from 'vitest'
import {openClusterClient} from '../../../src/redis/clusterClient.js'
import {withRedisNode} from '../../../src/redis/redisConnection.js'
import {redisAvailable, servedSlots, tagsInSlots} from '../../support/redisCluster.js'
import {useRedisCluster} from '../../support/redisTestFile.js'

/**
 * A client writing through ASK while the slot's target dies: ioredis sends ASKING ahead of the
 * redirected SET and drops ASKING's promise, so the target's connection closing with both in
 * flight left an unhandled rejection (CI run of 62ef1ec: four of them, from
 * redisTargetRestart's workload, failed the suite). The target is frozen (SIGSTOP) so that
 * ASKING and SET are surely queued on its connection when it is killed.
 */

const available = await redisAvailable()
const file = useRedisCluster('cluster-client', available, {masters: 3, replicasPerMaster: 0})

const unhandled: unknown[] = []
const collect = (reason: unknown): void => void unhandled.push(reason)
afterEach(() => void process.off('unhandledRejection', collect))

describe.skipIf(!available)('a cluster client redirected by ASK to a target that dies', () => {
  it('fails or retries the command, and leaves no unhandled rejection behind', async () => {
    process.on('unhandledRejection', collect)
    const [from, to] = file.masters
    const served = await servedSlots(from!)
    const first = Math.min(...served)
    const {tag, slot: open} = tagsInSlots(first, first + 64, 64, 'ask').find((t) => served.has(t.slot))!
    await withRedisNode(to!.address, (r) => r.call('CLUSTER', 'SETSLOT', String(open), 'IMPORTING', from!.redisId))
    await withRedisNode(from!.address, (r) => r.call('CLUSTER', 'SETSLOT', String(open), 'MIGRATING', to!.redisId))
    const client = openClusterClient([{host: '127.0.0.1', port: Number(from!.address.split(':')[1])}], {retryDelayOnFailover: 20, maxRedirections: 4})
    client.on('error', () => {})
    try {
      await client.get('{warm}') // the slot map, and connections to every master
      const target = file.redis.servers.find((s) => s.address === to!.address)!
      target.child.kill('SIGSTOP')
      // {tag}:absent is not on the source: it answers ASK, and ASKING + SET wait on the frozen target.
      const set = client.set(`{${tag}}:absent`, 'v').then(
        () => 'acknowledged',
        (err: Error) => err.message,
      )
      await sleepFor(300)
      const exited = new Promise<void>((res) => target.child.once('exit', () => res()))
      target.child.kill('SIGKILL')
      await exited
      expect(await set).not.toBe('acknowledged')
      await sleepFor(100) // an unhandled rejection is reported after the microtasks of its turn
    } finally {
      client.disconnect()
    }
    expect(unhandled.map(String)).toEqual([])
  }, 60_000)
})
