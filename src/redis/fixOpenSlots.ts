import {type Redis} from 'ioredis'
import {UserError} from '../errors/errors.js'
import {isLiveMaster, myself, parseClusterNodes, shortNodeId} from './clusterNodes.js'
import {discoverTopology} from './discovery.js'
import {decideOpenSlot} from './openSlotDecision.js'
import {clusterCommand, connectRedisNode} from './redisConnection.js'
import {assignSlot, countKeys, keysInSlot, type MasterConn, migrateKeys, openSlot, stableSlot} from './slotOps.js'

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
    for (const m of masters.values()) {
      const me = myself(parseClusterNodes(String(await clusterCommand(m.conn, 'NODES'))))
      if (!me || !isLiveMaster(me)) continue
      for (const [slot, to] of me.migrating) open.set(slot, {...open.get(slot), source: m.redisId, target: open.get(slot)?.target ?? to})
      for (const [slot, from] of me.importing) open.set(slot, {...open.get(slot), target: m.redisId, source: open.get(slot)?.source ?? from})
    }
    const slots: OpenSlotFix[] = []
    for (const [slot, ends] of [...open].sort((a, b) => a[0] - b[0])) {
      const source = ends.source ? masters.get(ends.source) : undefined
      const target = ends.target ? masters.get(ends.target) : undefined
      if (!source || !target) throw new UserError('PRECONDITION', `slot ${slot} is open towards a node that is not a live master (${ends.source ?? '?'} -> ${ends.target ?? '?'})`, 'bring that node back, or close the slot by hand with CLUSTER SETSLOT')
      const [sourceKeys, targetKeys] = [await countKeys(source, slot), await countKeys(target, slot)]
      const targetOwns = myself(parseClusterNodes(String(await clusterCommand(target.conn, 'NODES'))))!.slots.includes(slot)
      const action = decideOpenSlot({sourceKeys, targetKeys, targetOwns, preferFinish: false})
      const fix: OpenSlotFix = {slot, source: source.node, target: target.node, sourceKeys, targetKeys, action, keysMoved: 0}
      if (!dryRun) fix.keysMoved = await closeSlot(source, target, [...masters.values()].filter((m) => m !== source && m !== target), slot, action)
      slots.push(fix)
    }
    return {seed, dryRun, slots}
  } finally {
    for (const m of masters.values()) m.conn.disconnect()
  }
}

async function closeSlot(source: MasterConn, target: MasterConn, others: MasterConn[], slot: number, action: 'finish' | 'rollback'): Promise<number> {
  if (action === 'rollback') {
    await stableSlot(target, slot)
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
  }
  await assignSlot(target, source, others, slot)
  return moved
}

async function owns(r: Redis, slot: number): Promise<boolean> {
  return myself(parseClusterNodes(String(await clusterCommand(r, 'NODES'))))!.slots.includes(slot)
}
