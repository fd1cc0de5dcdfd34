import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {connectRedisNode, withRedisNode} from '../../../src/redis/redisConnection.js'
import {assignSlot, assignSlots, type BeforeSend, connectMasters, keepMaster, type MasterConn, migrateKeys, openSlot, openSlots, stableSlot} from '../../../src/redis/slotOps.js'
import {keySlot} from '../../../src/redis/keySlot.js'
import {redisAvailable, servedSlots, tagsInSlots} from '../../support/redisCluster.js'
import {changingCommandsSent, sentSince} from '../../support/redisCommandStats.js'
import {useRedisCluster} from '../../support/redisTestFile.js'

/**
 * The BeforeSend hook of slotOps (the redis move runner's executor-lock check, lockGate) runs
 * before every command that changes a master, and its refusal is never taken for a master that
 * missed the command (assignSlot's and assignSlots' other masters, keepMaster's refused CONFIG
 * SET): a refused step throws and sends nothing more, counted by the masters' own commandstats.
 */

const available = await redisAvailable()
const file = useRedisCluster('redis-before-send', available, {masters: 3, replicasPerMaster: 0})
let conns: Map<string, MasterConn>
let src: MasterConn, dst: MasterConn, other: MasterConn
beforeAll(async () => {
  if (!available) return
  conns = await connectMasters(file.masters.map((m) => ({id: m.node, address: m.address})), connectRedisNode)
  ;[src, dst, other] = file.masters.map((m) => conns.get(m.node)!) as [MasterConn, MasterConn, MasterConn]
})
afterAll(() => {
  for (const c of conns?.values() ?? []) c.conn.disconnect()
})

class Refused extends Error {}

/** refuseFrom allows the first `allowed` sends, then refuses every one; `asked` lists what was asked. */
function refuseFrom(allowed: number): BeforeSend & {asked: string[]} {
  const asked: string[] = []
  const fn = (what: string) => {
    asked.push(what)
    if (asked.length > allowed) throw new Refused(what)
  }
  return Object.assign(fn, {asked})
}

/** sent runs `fn` and returns what it sent that changes a master (every master's commandstats) and what it threw. */
async function sent(fn: () => Promise<unknown>): Promise<{sent: string[]; threw: unknown}> {
  const addresses = file.masters.map((m) => m.address)
  const before = await changingCommandsSent(addresses)
  const threw = await fn().then(
    () => undefined,
    (err: unknown) => err,
  )
  return {sent: sentSince(before, await changingCommandsSent(addresses)).map((s) => s.replace(/^\S+/, (a) => file.masters.find((m) => m.address === a)!.node)), threw}
}

/** aSlotOf is a slot `m` serves (the first of its own view). */
async function aSlotOf(m: MasterConn, skip = 0): Promise<number> {
  return [...(await servedSlots({node: m.node, redisId: m.redisId, address: m.address}))].sort((a, b) => a - b)[skip]!
}

describe.skipIf(!available)('slotOps BeforeSend: a refused step sends nothing more', () => {
  it('openSlot: refused first sends nothing; refused second leaves only IMPORTING sent', async () => {
    const slot = await aSlotOf(src)
    expect(await sent(() => openSlot(src, dst, slot, refuseFrom(0)))).toEqual({sent: [], threw: expect.any(Refused)})
    expect(await sent(() => openSlot(src, dst, slot, refuseFrom(1)))).toEqual({sent: [`${dst.node} cluster|setslot +1`], threw: expect.any(Refused)})
    await stableSlot(dst, slot)
  })

  it('openSlots: the IMPORTING pipeline is not written when refused', async () => {
    const slot = await aSlotOf(src)
    expect(await sent(() => openSlots(src, dst, [slot, slot + 1], refuseFrom(0)))).toEqual({sent: [], threw: expect.any(Refused)})
  })

  it('migrateKeys: a refused MIGRATE leaves the key on the source', async () => {
    const {tag, slot} = tagsInSlots(await aSlotOf(src), (await aSlotOf(src)) + 1, 1, 'bs')[0]!
    const key = `{${tag}}:k`
    expect(keySlot(key)).toBe(slot)
    await withRedisNode(src.address, (r) => r.set(key, 'v'))
    expect(await sent(() => migrateKeys(src, dst, [key], 1000, {beforeSend: refuseFrom(0)}))).toEqual({sent: [], threw: expect.any(Refused)})
    expect(await withRedisNode(src.address, (r) => r.get(key))).toBe('v')
    await withRedisNode(src.address, (r) => r.del(key))
  })

  it('assignSlot and assignSlots: a refusal at the other masters throws, not counted as a master that missed it', async () => {
    const slot = await aSlotOf(src)
    expect(await sent(() => assignSlot(dst, src, [other], slot, refuseFrom(0)))).toEqual({sent: [], threw: expect.any(Refused)})
    expect(await sent(() => assignSlots(dst, src, [other], [slot], refuseFrom(0)))).toEqual({sent: [], threw: expect.any(Refused)})
    // The slot holds no key: the owner and the previous owner take it, the other master is never sent it.
    const check = refuseFrom(2)
    const r = await sent(() => assignSlot(dst, src, [other], slot, check))
    expect(r).toEqual({sent: [`${src.node} cluster|setslot +1`, `${dst.node} cluster|setslot +1`], threw: expect.any(Refused)})
    expect(check.asked).toHaveLength(3)
    const back = refuseFrom(2)
    expect(await sent(() => assignSlots(src, dst, [other], [slot], back))).toEqual({sent: [`${src.node} cluster|setslot +1`, `${dst.node} cluster|setslot +1`], threw: expect.any(Refused)})
    expect((await servedSlots({node: src.node, redisId: src.redisId, address: src.address})).has(slot)).toBe(true)
  })

  it('keepMaster: a refusal throws instead of reading as a server that denied CONFIG SET', async () => {
    expect(await sent(() => keepMaster(src, refuseFrom(0)))).toEqual({sent: [], threw: expect.any(Refused)})
  })
})
