import {setTimeout as sleepFor} from 'node:timers/promises'
import {type RedisClusterNode} from '../../src/redis/clusterNodes.js'
import {readClusterNodes, withRedisNode} from '../../src/redis/redisConnection.js'
import {keySlot} from '../../src/redis/keySlot.js'
import {type Cluster} from 'ioredis'
import {expect} from 'vitest'
import {type RedisMaster, servedSlots, tagsInSlots} from './redisCluster.js'

/** nodesSeenBy is the `CLUSTER NODES` view of the node at `address`. */
export async function nodesSeenBy(address: string): Promise<RedisClusterNode[]> {
  return withRedisNode(address, readClusterNodes)
}

/** countAt is how many keys of `slot` the node at `address` holds. */
export function countAt(address: string, slot: number): Promise<number> {
  return withRedisNode(address, async (r) => Number(await r.call('CLUSTER', 'COUNTKEYSINSLOT', String(slot))))
}

/** poll calls `fn` every 200 ms until it answers something (a throw counts as nothing yet); throws naming `what` after `timeoutMs`. */
export async function poll<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn().catch(() => undefined)
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleepFor(200)
  }
}

/** replicaOf is the address of `master`'s replica (from `master`'s own view); throws when it has none. */
export async function replicaOf(master: RedisMaster): Promise<string> {
  const r = (await nodesSeenBy(master.address)).find((n) => n.masterId === master.redisId)
  if (!r) throw new Error(`${master.node} has no replica`)
  return r.address
}

/**
 * openSlotByHand marks `slot` IMPORTING on `dst` and MIGRATING on `src` and migrates `n` of its
 * keys (what redis-cli or a killed executor leaves); with `awaitReplicas`, it then waits until
 * a replica of each master acknowledged every write so far (WAIT), so a later kill measures no
 * loss of async replication's own.
 */
export async function openSlotByHand(src: RedisMaster, dst: RedisMaster, slot: number, n: number, opts: {awaitReplicas?: boolean} = {}): Promise<void> {
  await withRedisNode(dst.address, (r) => r.call('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', src.redisId))
  await withRedisNode(src.address, async (r) => {
    await r.call('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', dst.redisId)
    const keys = (await r.call('CLUSTER', 'GETKEYSINSLOT', String(slot), String(n))) as string[]
    const i = dst.address.lastIndexOf(':')
    await r.call('MIGRATE', dst.address.slice(0, i), dst.address.slice(i + 1), '', '0', '5000', 'KEYS', ...keys)
  })
  if (!opts.awaitReplicas) return
  // WAIT, not a key count: a replica that had not synced yet holds the same count (0) as a
  // source whose keys all left, and a replica that never synced does not fail over.
  for (const m of [src, dst]) {
    await poll(`a replica of ${m.address} to acknowledge its writes`, () => withRedisNode(m.address, async (r) => (Number(await r.call('WAIT', '1', '1000')) >= 1 ? true : undefined)))
  }
}

/**
 * writeKeysInOneSlot writes `n` keys `{tag}:<j>` through `client`, one after the other and each
 * valued `<key>=1` (checked OK), in one slot of [`first`, `end`) (a hash tag of `prefix`): the
 * slot a test then moves or leaves open.
 */
export async function writeKeysInOneSlot(client: Cluster, slots: {first: number; end: number}, prefix: string, n: number): Promise<{slot: number; keys: string[]}> {
  const {tag, slot} = tagsInSlots(slots.first, slots.end, 1, prefix)[0]!
  const keys = Array.from({length: n}, (_, j) => `{${tag}}:${j}`)
  for (const k of keys) expect(await client.set(k, `${k}=1`)).toBe('OK')
  return {slot, keys}
}

/**
 * openSlotWithKeys writes `n` keys to a slot in [`first`, `end`) ({@link writeKeysInOneSlot}),
 * then leaves it open from `src` to `dst` with 10 of them moved: a slot with keys on both
 * sides, which the `redis fix` tests finish.
 */
export async function openSlotWithKeys(client: Cluster, src: RedisMaster, dst: RedisMaster, slots: {first: number; end: number}, prefix: string, n: number): Promise<{slot: number; keys: string[]}> {
  const written = await writeKeysInOneSlot(client, slots, prefix, n)
  await openSlotByHand(src, dst, written.slot, 10)
  return written
}

/**
 * failoverSeenBy waits until every node at `addresses` sees the failover of the dead master
 * `deadId` to `successor` in its own `CLUSTER NODES` view: the successor a master, the dead node
 * serving no slot but those the viewer imports from it (Redis keeps an importing slot's owner
 * as it was, whatever gossip says). A replica promotes itself before gossip reaches the others, and `redis fix`
 * reads every live master's view: asked in between, it rightly refuses (the dead node still
 * looks like it serves the slot), which is not the case a test of the failover path means.
 */
export async function failoverSeenBy(addresses: readonly string[], deadId: string, successor: string): Promise<void> {
  for (const address of addresses) {
    let last = 'no answer'
    await poll(`${address} to see ${successor} take over from ${deadId.slice(0, 12)}`, async () => {
      const view = await nodesSeenBy(address)
      const next = view.find((n) => n.address === successor)
      const dead = view.find((n) => n.id === deadId)
      const importing = view.find((n) => n.flags.includes('myself'))?.importing ?? new Map<number, string>()
      const kept = dead?.slots.filter((slot) => importing.get(slot) !== deadId) ?? []
      last = `successor ${next ? next.flags.join(',') : 'absent'}, dead node ${dead ? `${dead.flags.join(',')} serving ${kept.length} slots` : 'absent'}`
      return next?.flags.includes('master') && kept.length === 0 ? true : undefined
    }).catch((e: Error) => {
      throw new Error(`${e.message} (last seen: ${last})`)
    })
  }
}

/**
 * slotServedBy is one slot `master` serves now and a hash tag in it (`prefix` makes tags differ
 * between tests of one cluster). The slots a master serves need not be one run: an earlier
 * test's move cancelled half-way leaves a gap, so a tag is taken only in a slot it serves.
 */
export async function slotServedBy(master: RedisMaster, prefix = 'm'): Promise<{tag: string; slot: number}> {
  const mine = await servedSlots(master)
  for (let i = 0; i < 2_000_000; i++) {
    const slot = keySlot(`${prefix}${i}`)
    if (mine.has(slot)) return {tag: `${prefix}${i}`, slot}
  }
  throw new Error(`no hash tag ${prefix}<n> falls in a slot ${master.address} serves (${mine.size} slots)`)
}

/** writeTagged writes `n` keys `{tag}:<j>` through `client`, each valued `<key>=1` (or `value`), and returns them. */
export async function writeTagged(client: Cluster, tag: string, n: number, value?: string): Promise<string[]> {
  const keys = Array.from({length: n}, (_, j) => `{${tag}}:${j}`)
  await Promise.all(keys.map((k) => client.set(k, value ?? `${k}=1`)))
  return keys
}
