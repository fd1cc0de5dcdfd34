import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {acquireLock, parseLockHolder} from '../../src/etcd/leaseLock.js'
import {withRedisNode} from '../../src/redis/redisConnection.js'
import {type CliChild, spawnCli} from '../support/cliChild.js'
import {openSlotWithKeys, poll} from '../support/redisFailover.js'
import {openSlotMarks, redisAvailable, type RedisMaster} from '../support/redisCluster.js'
import {useRedisCluster} from '../support/redisTestFile.js'
import {runCli} from '../support/runCli.js'

/**
 * `redis fix --yes` and the executor never change the cluster at the same time.
 *
 * Before, `redis fix` read the executor lock once, at its start, and then opened, migrated and
 * assigned slots holding no lock: an `apply` started meanwhile took the lock and drove the
 * same slots alongside it. Now it takes the executor lock for its whole run. Real processes
 * (the CLI from dist/, redis-server, etcd): (1) with the lock held by an executor, `redis fix
 * --yes` is refused with exit 8 naming the holder and changes nothing; (2) while `redis fix
 * --yes` runs (held on a target that pauses its clients, then by SIGSTOP for the few seconds
 * the other command takes, well inside its lease), the lock names it and `apply --resume` is refused with exit 8 naming `redis fix`; the fix then
 * closes the slot and every key reads back.
 */

const available = await redisAvailable()
const file = useRedisCluster('redis-fix-lock', available, {replicasPerMaster: 0})
let cwd: string
beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-redis-fix-lock-'))
})
afterAll(() => {
  if (cwd) rmSync(cwd, {recursive: true, force: true})
})

const cliArgs = (args: string[]) => [...args, '--endpoints', inject('etcdEndpoint'), '--cluster', file.ctx.cluster]
const cli = (args: string[]) => runCli(cliArgs(args), {cwd, timeoutMs: 90_000})

/** openSlotOfSecondShard writes 30 keys to a slot of the second shard and leaves it open towards another master, 10 keys moved. */
async function openSlotOfSecondShard(prefix: string): Promise<{src: RedisMaster; dst: RedisMaster; slot: number; keys: string[]}> {
  const {from: src, to: dst, first, end} = await file.shardToMove(1)
  return {src, dst, ...(await openSlotWithKeys(file.client, src, dst, {first, end}, prefix, 30))}
}

describe.skipIf(!available)('redis fix --yes under the executor lock', () => {
  it('is refused (exit 8) while an executor holds the lock, naming it, and changes nothing', async () => {
    await file.freshNamespace(16)
    const {slot} = await openSlotOfSecondShard('fl1')
    const before = await openSlotMarks(file.masters)
    const lock = await acquireLock(file.ctx.store, file.ctx.keys.executorLock, 'shardctl apply --resume')
    let refused: Awaited<ReturnType<typeof cli>>
    let after: Awaited<ReturnType<typeof openSlotMarks>>
    try {
      refused = await cli(['redis', 'fix', '--yes'])
      after = await openSlotMarks(file.masters)
    } finally {
      await lock.release()
    }
    // Closed before asserting, so the next test starts from a cluster with no open slot whatever happened here.
    const fixed = await cli(['redis', 'fix', '--yes'])
    expect(refused.code, refused.stdout + refused.stderr).toBe(8)
    expect(refused.stderr).toMatch(/held by shardctl apply --resume \(pid \d+/)
    expect(after).toEqual(before)
    expect(fixed.code, fixed.stdout + fixed.stderr).toBe(0)
    expect((await openSlotMarks(file.masters)).filter((m) => m.slot === slot)).toEqual([])
  }, 120_000)

  it('holds the lock while it runs: an apply started meanwhile is refused (exit 8) naming redis fix', async () => {
    await file.freshNamespace(16)
    const {dst, slot, keys} = await openSlotOfSecondShard('fl2')
    // The target holds its clients for 5 s (CLIENT PAUSE: the cluster bus goes on, so no master is
    // failed): redis fix, which takes the lock before it reads a master, waits on it holding the lock.
    await withRedisNode(dst.address, (r) => r.call('CLIENT', 'PAUSE', '5000', 'ALL'))
    let fix: CliChild | undefined
    try {
      fix = spawnCli(cliArgs(['redis', 'fix', '--yes']))
      const holder = await poll(
        'redis fix to hold the executor lock',
        async () => {
          const kv = await file.ctx.store.get(file.ctx.keys.executorLock)
          return kv ? parseLockHolder(kv.value)?.holder : undefined
        },
        5_000,
      )
      // Held where it is (a few seconds, well inside its 10 s lease), so the apply below surely starts while it runs.
      fix.signal('SIGSTOP')
      expect(holder).toMatch(/redis fix/)
      const apply = await cli(['apply', '--resume', '--yes'])
      expect(apply.code, apply.stdout + apply.stderr).toBe(8)
      expect(apply.stderr).toMatch(/held by shardctl redis fix/)
      fix.signal('SIGCONT')
      expect(await fix.exited, fix.stdout() + fix.logs()).toBe(0)
    } finally {
      fix?.signal('SIGCONT')
      await fix?.kill()
    }
    expect(await file.ctx.store.get(file.ctx.keys.executorLock)).toBeUndefined()
    expect((await openSlotMarks(file.masters)).filter((m) => m.slot === slot)).toEqual([])
    expect(await Promise.all(keys.map((k) => file.client.get(k)))).toEqual(keys.map((k) => `${k}=1`))
  }, 120_000)
})
