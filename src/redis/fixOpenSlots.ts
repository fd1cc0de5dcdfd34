import {setTimeout as sleepFor} from 'node:timers/promises'
import {type Redis} from 'ioredis'
import {UserError} from '../errors/errors.js'
import {isLiveMaster, myself, parseClusterNodes, shortNodeId} from './clusterNodes.js'
import {discoverTopology} from './discovery.js'
import {decideOpenSlot} from './openSlotDecision.js'
import {clusterCommand, connectRedisNode} from './redisConnection.js'
import {targetWillOutrankSource} from './epochOrder.js'
import {resolveOpenSlotSides} from './openSlotSides.js'
import {assignSlot, countKeys, keysInSlot, type MasterConn, migrateKeys, openSlot, readEpochs, stableSlot} from './slotOps.js'

/** OpenSlotFix is one slot found open and what closing it does (or did). */
export interface OpenSlotFix {
  slot: number
  /** source is the master that owned the slot (MIGRATING side), target the IMPORTING side (short ids). */
  source: string
  target: string
  sourceKeys: number
  targetKeys: number
  action: 'finish' | 'rollback'
  /** keysMoved is how many keys `finish` migrated (0 on a dry run). */
  keysMoved: number
  /** failed is the master a mark still names that is no longer a live master (Redis failed it over; `source` or `target` is the master that took its place), null when both are live. */
  failed: string | null
}

/** FixResult is what `shardctl redis fix` reports (its --json output). */
export interface FixResult {
  seed: string
  dryRun: boolean
  slots: OpenSlotFix[]
}

/**
 * fixOpenSlots finds every slot some master of the cluster behind `seed` marks MIGRATING or
 * IMPORTING (each master's own view), decides from where its keys are (see decideOpenSlot)
 * and, unless `dryRun`, closes it: `finish` migrates the keys left on the source and assigns
 * the slot to the target on every master; `rollback` clears the marks (the source keeps the
 * slot). Idempotent: a second run finds nothing open. Throws NODE_UNREACHABLE when a master
 * does not answer, PRECONDITION for a slot whose two sides cannot be identified.
 */
export async function fixOpenSlots(seed: string, dryRun: boolean): Promise<FixResult> {
  const topo = await discoverTopology(seed)
  const masters = new Map<string, MasterConn>()
  try {
    for (const n of topo.masters) masters.set(n.id, {node: shortNodeId(n.id), redisId: n.id, address: n.address, conn: await connectRedisNode(n.address)})
    const open = new Map<number, {source?: string; target?: string}>()
    const served = new Map<string, Set<number>>()
    for (const m of masters.values()) {
      const me = myself(parseClusterNodes(String(await clusterCommand(m.conn, 'NODES'))))
      if (!me || !isLiveMaster(me)) continue
      served.set(m.redisId, new Set(me.slots))
      for (const [slot, to] of me.migrating) open.set(slot, {...open.get(slot), source: m.redisId, target: open.get(slot)?.target ?? to})
      for (const [slot, from] of me.importing) open.set(slot, {...open.get(slot), target: m.redisId, source: open.get(slot)?.source ?? from})
    }
    const live = [...masters.values()].filter((m) => served.has(m.redisId))
    const slots: OpenSlotFix[] = []
    for (const [slot, ends] of [...open].sort((a, b) => a[0] - b[0])) {
      const views = await Promise.all(live.map(async (m) => ({id: m.redisId, owns: served.get(m.redisId)!.has(slot), keys: await countKeys(m, slot)})))
      const sides = resolveOpenSlotSides({source: ends.source, target: ends.target, masters: views})
      if (!sides) throw new UserError('PRECONDITION', `slot ${slot} is open towards a node that is not a live master (${ends.source ?? '?'} -> ${ends.target ?? '?'}), and no live master took its place`, 'bring that node back, or close the slot by hand with CLUSTER SETSLOT')
      const source = masters.get(sides.source)!
      const target = sides.target === null ? undefined : masters.get(sides.target)!
      const failed = [ends.source, ends.target].find((id) => id !== undefined && !served.has(id))
      const sourceKeys = views.find((v) => v.id === source.redisId)!.keys
      const targetKeys = target ? views.find((v) => v.id === target.redisId)!.keys : 0
      const targetOwns = target ? served.get(target.redisId)!.has(slot) : false
      const action = target ? decideOpenSlot({sourceKeys, targetKeys, targetOwns, preferFinish: false}) : 'rollback'
      const fix: OpenSlotFix = {slot, source: source.node, target: target?.node ?? shortNodeId(ends.target ?? '?'), sourceKeys, targetKeys, action, keysMoved: 0, failed: failed === undefined ? null : shortNodeId(failed)}
      if (!dryRun) {
        // The target's view of the slot is frozen on the failed source by its IMPORTING mark, which leaves the target CLUSTERDOWN (it refuses the MIGRATE): point it at the new owner first.
        if (target && ends.source !== source.redisId) await clusterCommand(target.conn, 'SETSLOT', slot, 'NODE', source.redisId)
        fix.keysMoved = await closeSlot(source, target, live.filter((m) => m !== source && m !== target), slot, action)
      }
      slots.push(fix)
    }
    return {seed, dryRun, slots}
  } finally {
    for (const m of masters.values()) m.conn.disconnect()
  }
}

/** closeSlot finishes or rolls back one open slot; with no target (the importing side failed and kept no key) a rollback clears the source's mark alone. */
async function closeSlot(source: MasterConn, target: MasterConn | undefined, others: MasterConn[], slot: number, action: 'finish' | 'rollback'): Promise<number> {
  if (action === 'rollback' || !target) {
    if (target) await stableSlot(target, slot)
    await stableSlot(source, slot)
    return 0
  }
  let moved = 0
  const sourceOwns = await owns(source.conn, slot)
  if (sourceOwns) {
    await openSlot(source, target, slot)
    for (let keys = await keysInSlot(source, slot, 100); keys.length > 0; keys = await keysInSlot(source, slot, 100)) {
      await migrateKeys(source, target, keys, 5000)
      moved += keys.length
    }
    await awaitEpochOrder(source, target, slot)
  }
  await assignSlot(target, source, others, slot)
  return moved
}

/**
 * awaitEpochOrder waits (EPOCH_WAIT_MS at most) until the target's SETSLOT NODE will leave it
 * above the source's config epoch (see targetWillOutrankSource): a source that just won a
 * failover has a new epoch the target may not have heard of, and would win the slot back,
 * deleting the keys the target holds. Throws PRECONDITION after the wait (the slot stays open).
 */
async function awaitEpochOrder(source: MasterConn, target: MasterConn, slot: number): Promise<void> {
  for (let waited = 0; ; waited += 100) {
    const r = await readEpochs(source, target)
    if (targetWillOutrankSource(r)) return
    if (waited >= EPOCH_WAIT_MS) throw new UserError('PRECONDITION', `slot ${slot}: ${target.node} (config epoch ${r.targetOwn}) still sees ${source.node} at epoch ${r.sourceSeenByTarget ?? 'unknown'}, not its ${r.sourceOwn}: assigning the slot now could lose its keys`, 'check the cluster bus between the two masters (`redis-cli --cluster check`), then run `redis fix` again')
    await sleepFor(100)
  }
}

/** EPOCH_WAIT_MS bounds awaitEpochOrder (gossip carries an epoch within a few pings). */
const EPOCH_WAIT_MS = 30_000

async function owns(r: Redis, slot: number): Promise<boolean> {
  return myself(parseClusterNodes(String(await clusterCommand(r, 'NODES'))))!.slots.includes(slot)
}
