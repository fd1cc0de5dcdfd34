import {describe, expect, it} from 'vitest'
import {isUserError, UserError} from '../../../src/errors/errors.js'
import {fixOpenSlots} from '../../../src/redis/fixOpenSlots.js'
import {leaseGuards} from '../../../src/redis/leaseGuards.js'
import {type LockState, MIGRATE_REPLY_SLACK_MS, SEND_MARGIN_MS} from '../../../src/redis/lockGate.js'
import {withRedisNode} from '../../../src/redis/redisConnection.js'
import {openSlotWithKeys} from '../../support/redisFailover.js'
import {openSlotMarks, redisAvailable} from '../../support/redisCluster.js'
import {changingCommandsSent, sentSince} from '../../support/redisCommandStats.js'
import {useRedisCluster} from '../../support/redisTestFile.js'

/**
 * `redis fix --yes` sends through the executor lock's lease checks (leaseGuards.ts), like the
 * redis move runner: fixOpenSlots on a real cluster with a slot left open (keys on both
 * sides, so it finishes it: SETSLOT, MIGRATE, SETSLOT NODE), its lock state set by the test.
 * A lost lease sends nothing that changes a master (every master's INFO commandstats, refused
 * commands included) and stops with LOCK_HELD; a lease with 2 s left caps each MIGRATE's own
 * timeout at what it leaves (the source's SLOWLOG shows the argument received); a live lease
 * closes the slot with every key readable. Before, `redis fix` had no such checks.
 */

const available = await redisAvailable()
const file = useRedisCluster('redis-fix-lease', available, {replicasPerMaster: 0, slotsPerShard: 16})
const key = '/test/lock/executor'

function guardsOf(state: () => LockState) {
  return leaseGuards(state, (_k, message) => new UserError('LOCK_HELD', message, 'test'))
}

async function openOne(prefix: string) {
  const [src, dst] = file.masters as [(typeof file.masters)[0], (typeof file.masters)[0]]
  const first = Math.min(...(await withRedisNode(src.address, async (r) => ((await r.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][]).filter((s) => `${s[2][0]}:${s[2][1]}` === src.address).map((s) => s[0]))))
  return {src, dst, ...(await openSlotWithKeys(file.client, src, dst, {first, end: first + 64}, prefix, 40))}
}

describe.skipIf(!available)('redis fix through the lease checks', () => {
  it('sends nothing once the lease is lost, and stops with LOCK_HELD', async () => {
    const {slot} = await openOne('fx1')
    const addresses = file.masters.map((m) => m.address)
    const before = await changingCommandsSent(addresses)
    const err = await fixOpenSlots(file.redis.seed, false, {guards: guardsOf(() => ({key, lost: true, msLeft: 0}))}).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(sentSince(before, await changingCommandsSent(addresses))).toEqual([])
    expect(isUserError(err, 'LOCK_HELD') && err.message).toMatch(/not sent: the executor lost its lock/)
    expect((await openSlotMarks(file.masters)).filter((m) => m.slot === slot)).toHaveLength(2)
    await fixOpenSlots(file.redis.seed, false, {guards: guardsOf(() => ({key, lost: false, msLeft: 8000}))})
    expect(await openSlotMarks(file.masters)).toEqual([])
  })

  it('stops before the first command once the lease runs out mid-fix: what was sent before it stays, nothing after', async () => {
    await openOne('fx2')
    let lost = false
    const asked: string[] = []
    const guards = guardsOf(() => ({key, lost, msLeft: lost ? 0 : 8000}))
    const counting = {
      beforeSend: (what: string) => {
        asked.push(what)
        guards.beforeSend(what)
      },
      migrate: (what: string, ms: number) => {
        asked.push(what)
        lost = true // the lease lapses from the first MIGRATE on
        return guards.migrate(what, ms)
      },
    }
    const addresses = file.masters.map((m) => m.address)
    const before = await changingCommandsSent(addresses)
    const err = await fixOpenSlots(file.redis.seed, false, {guards: counting}).then(
      () => undefined,
      (e: unknown) => e,
    )
    const sent = sentSince(before, await changingCommandsSent(addresses))
    expect(isUserError(err, 'LOCK_HELD'), String(err)).toBe(true)
    // The slot (re)opened on both sides, then nothing: no MIGRATE, no SETSLOT NODE.
    expect(asked.slice(-1)[0]).toMatch(/^MIGRATE/)
    expect(sent.every((s) => /cluster\|setslot \+1$/.test(s)), sent.join('; ')).toBe(true)
    expect(sent).toHaveLength(2)
    // What the next run needs: the slot still open, and a live lease closes it with every key readable.
    const again = await fixOpenSlots(file.redis.seed, false, {guards: guardsOf(() => ({key, lost: false, msLeft: 8000}))})
    expect(again.slots.map((s) => s.action)).toEqual(['finish'])
    expect(await openSlotMarks(file.masters)).toEqual([])
  })

  it('caps each MIGRATE at the lease left, and closes the slot with every key readable', async () => {
    const {src, keys} = await openOne('fx3')
    await withRedisNode(src.address, async (r) => {
      await r.call('CONFIG', 'SET', 'slowlog-log-slower-than', '0')
      await r.call('SLOWLOG', 'RESET')
    })
    try {
      const msLeft = 2000
      const result = await fixOpenSlots(file.redis.seed, false, {guards: guardsOf(() => ({key, lost: false, msLeft}))})
      expect(result.slots.map((s) => s.action)).toEqual(['finish'])
      const slow = await withRedisNode(src.address, (r) => r.call('SLOWLOG', 'GET', '128') as Promise<[number, number, number, string[]][]>)
      const migrates = slow.map((e) => e[3]).filter((args) => String(args[0]).toUpperCase() === 'MIGRATE')
      expect(migrates.length).toBeGreaterThan(0)
      for (const args of migrates) expect(Number(args[5])).toBe(msLeft - SEND_MARGIN_MS - MIGRATE_REPLY_SLACK_MS)
    } finally {
      await withRedisNode(src.address, (r) => r.call('CONFIG', 'SET', 'slowlog-log-slower-than', '10000'))
    }
    expect(await openSlotMarks(file.masters)).toEqual([])
    expect(await Promise.all(keys.map((k) => file.client.get(k)))).toEqual(keys.map((k) => `${k}=1`))
  })
})
