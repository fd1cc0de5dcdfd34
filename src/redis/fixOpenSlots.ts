import {setTimeout as sleepFor} from 'node:timers/promises'
import {type Redis} from 'ioredis'
import {UserError} from '../errors/errors.js'
import {isLiveMaster, myself, type RedisClusterNode, shortNodeId} from './clusterNodes.js'
import {discoverTopology} from './discovery.js'
import {planOpenSlot} from './openSlotDecision.js'
import {clusterCommand, connectRedisNode, readClusterNodes} from './redisConnection.js'
import {awaitEpochOrder, type EpochWaitOptions} from './epochOrderWait.js'
import {type LeaseGuards} from './leaseGuards.js'
import {keysWithinBytes} from './migrateBatch.js'
import {DEFAULT_BIG_KEY_BYTES} from './redisSampler.js'
import {assignSlot, countKeys, isBusyKey, keySizes, keysInSlot, keysOnBothSides, type MasterConn, migrateKeys, openSlot, stableSlot} from './slotOps.js'

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
  /**
   * keysOnBothSides lists the keys of a slot to finish after a failover that both sides hold
   * (empty otherwise): the replica that took over a failed source served the slot without
   * ASK, so a write there to a key already migrated made a second copy, and each copy may hold
   * writes the other lacks. Without `replace`, `redis fix` refuses such a slot (the operator
   * merges or deletes one copy); with it, the source's copy replaces the target's.
   */
  keysOnBothSides: string[]
}

/** FixOptions tune fixOpenSlots. */
export interface FixOptions {
  /** replace: when finishing a slot after a failover, a key on both sides is taken from the source (MIGRATE ... REPLACE) instead of refusing. */
  replace?: boolean
  /**
   * guards hold every command that changes the cluster to the executor lock `redis fix --yes`
   * takes (leaseGuards.ts): nothing is sent once its lease is lost or nearly so, and a MIGRATE
   * cannot run past it. Absent: nothing is checked (a dry run sends no such command).
   */
  guards?: LeaseGuards
}

/** FixResult is what `shardctl redis fix` reports (its --json output). */
export interface FixResult {
  seed: string
  dryRun: boolean
  slots: OpenSlotFix[]
}

/**
 * fixOpenSlots finds every slot some master of the cluster behind `seed` marks MIGRATING or
 * IMPORTING (each master's own view), decides from where its keys are (see planOpenSlot)
 * and, unless `dryRun`, closes it: `finish` migrates the keys left on the source and assigns
 * the slot to the target on every master; `rollback` clears the marks (the source keeps the
 * slot). Idempotent: a second run finds nothing open. Throws NODE_UNREACHABLE when a master
 * does not answer, PRECONDITION for a slot whose two sides cannot be identified (dry run
 * too: a failed target not shown replaced, a third master serving the slot) and, unless
 * `dryRun` or `opts.replace`, for a slot to finish after a failover with keys on both sides
 * (listed in `keysOnBothSides`; also when MIGRATE, which then goes without REPLACE, meets one
 * with BUSYKEY). Slots before the refused one are closed already.
 */
export async function fixOpenSlots(seed: string, dryRun: boolean, opts: FixOptions = {}): Promise<FixResult> {
  const guards = opts.guards ?? NO_GUARDS
  const topo = await discoverTopology(seed)
  const masters = new Map<string, MasterConn>()
  try {
    for (const n of topo.masters) masters.set(n.id, {node: shortNodeId(n.id), redisId: n.id, address: n.address, conn: await connectRedisNode(n.address)})
    const open = new Map<number, {source?: string; target?: string; sourceMigrating?: boolean}>()
    const served = new Map<string, Set<number>>()
    const views: RedisClusterNode[][] = []
    for (const m of masters.values()) {
      const view = await readClusterNodes(m.conn)
      const me = myself(view)
      if (!me || !isLiveMaster(me)) continue
      served.set(m.redisId, new Set(me.slots))
      views.push(view)
      for (const [slot, to] of me.migrating) open.set(slot, {...open.get(slot), source: m.redisId, target: open.get(slot)?.target ?? to, sourceMigrating: true})
      for (const [slot, from] of me.importing) open.set(slot, {...open.get(slot), target: m.redisId, source: open.get(slot)?.source ?? from, sourceMigrating: open.get(slot)?.sourceMigrating ?? false})
    }
    const live = [...masters.values()].filter((m) => served.has(m.redisId))
    const slots: OpenSlotFix[] = []
    for (const [slot, ends] of [...open].sort((a, b) => a[0] - b[0])) {
      const slotViews = await Promise.all(live.map(async (m) => ({id: m.redisId, owns: served.get(m.redisId)!.has(slot), keys: await countKeys(m, slot)})))
      const plan = planOpenSlot({slot, ends, masters: slotViews, views})
      const source = masters.get(plan.source)!
      const target = plan.target === null ? undefined : masters.get(plan.target)!
      // The source is not known to be authoritative for keys the target holds too (see OpenSlotPlan.listBothSides): list them, and MIGRATE without REPLACE.
      const both = plan.listBothSides && target ? await keysOnBothSides(source, target, slot) : []
      const fix: OpenSlotFix = {slot, source: source.node, target: target?.node ?? shortNodeId(ends.target ?? '?'), sourceKeys: plan.sourceKeys, targetKeys: plan.targetKeys, action: plan.action, keysMoved: 0, failed: plan.failed === null ? null : shortNodeId(plan.failed), keysOnBothSides: both}
      if (!dryRun) {
        if (both.length > 0 && !opts.replace) throw bothSidesRefusal(slot, source, target!, both, plan.afterFailover)
        // The target's view of the slot is frozen on the failed source by its IMPORTING mark, which leaves the target CLUSTERDOWN (it refuses the MIGRATE): point it at the new owner first.
        if (target && plan.repointTarget) {
          guards.beforeSend(`SETSLOT ${slot} NODE ${shortNodeId(source.redisId)} on ${target.node}`)
          await clusterCommand(target.conn, 'SETSLOT', slot, 'NODE', source.redisId)
        }
        const closed = await closeSlot(guards, source, target, live.filter((m) => m !== source && m !== target), slot, plan.action, opts.replace === true, plan.afterFailover, plan.failedSource ?? undefined)
        fix.keysMoved = closed.moved
        // A rollback that met keys written to the target after the count finished instead: say so.
        fix.action = closed.action
        fix.targetKeys = closed.targetKeys ?? fix.targetKeys
      }
      slots.push(fix)
    }
    return {seed, dryRun, slots}
  } finally {
    for (const m of masters.values()) m.conn.disconnect()
  }
}

/**
 * closeSlot finishes or rolls back one open slot; with no target (the importing side failed,
 * was replaced and kept no key) a rollback clears the source's mark alone. `replace` false:
 * MIGRATE without REPLACE, and a key the target already holds (BUSYKEY) stops it with
 * PRECONDITION naming the keys on both sides (the slot stays open, the rest moved). When the
 * source is the successor of the failed source `failedSource`, the marks are put back as
 * Redis left them (no mark on the successor, the target importing from the failed node), so
 * that the next run still sees the failover and does not take the successor as authoritative.
 *
 * A rollback clears the target's mark first and counts its keys again: until then the target
 * took, through ASK, writes of keys the source did not hold, and one that came after the count
 * the decision was made on would be left on a master that does not serve the slot (an
 * acknowledged write unreachable). Once its mark is cleared the target answers MOVED instead,
 * so the recount is final: with keys there the slot is opened again and finished instead.
 */
async function closeSlot(guards: LeaseGuards, source: MasterConn, target: MasterConn | undefined, others: MasterConn[], slot: number, action: 'finish' | 'rollback', replace: boolean, afterFailover: boolean, failedSource?: string): Promise<{action: 'finish' | 'rollback'; moved: number; targetKeys?: number}> {
  if (action === 'rollback' || !target) {
    if (!target) {
      await stableSlot(source, slot, guards.beforeSend)
      return {action: 'rollback', moved: 0}
    }
    await stableSlot(target, slot, guards.beforeSend)
    const late = await countKeys(target, slot)
    if (late === 0) {
      await stableSlot(source, slot, guards.beforeSend)
      return {action: 'rollback', moved: 0, targetKeys: 0}
    }
    // Finishing opens the slot again (IMPORTING on the target first): the late keys stay where they are.
    return {action: 'finish', moved: await finishSlot(guards, source, target, others, slot, replace, afterFailover, failedSource), targetKeys: late}
  }
  return {action: 'finish', moved: await finishSlot(guards, source, target, others, slot, replace, afterFailover, failedSource)}
}

/** finishSlot is closeSlot's `finish`: the keys left on the source go to the target, which is then assigned the slot everywhere. Returns how many keys moved. */
async function finishSlot(guards: LeaseGuards, source: MasterConn, target: MasterConn, others: MasterConn[], slot: number, replace: boolean, afterFailover: boolean, failedSource?: string): Promise<number> {
  let moved = 0
  const sourceOwns = await owns(source.conn, slot)
  if (sourceOwns) {
    await openSlot(source, target, slot, guards.beforeSend)
    for (let listed = await keysInSlot(source, slot, 100); listed.length > 0; listed = await keysInSlot(source, slot, 100)) {
      // At most the default big-key limit per MIGRATE (one key above it alone), as the runner
      // does: 100 keys near 8 MiB in one MIGRATE outlast its timeout on every run of fix, the
      // way out named for a slot left open.
      const keys = listed.slice(0, keysWithinBytes(await keySizes(source, listed), DEFAULT_BIG_KEY_BYTES))
      try {
        await migrateKeys(source, target, keys, 5000, {replace, within: guards.migrate})
      } catch (err) {
        if (replace || !isBusyKey(err)) throw err
        const both = await keysOnBothSides(source, target, slot)
        if (failedSource !== undefined) {
          await stableSlot(source, slot, guards.beforeSend).catch(() => undefined)
          guards.beforeSend(`SETSLOT ${slot} IMPORTING on ${target.node}`)
          await clusterCommand(target.conn, 'SETSLOT', slot, 'IMPORTING', failedSource).catch(() => undefined)
        }
        throw bothSidesRefusal(slot, source, target, both, afterFailover)
      }
      moved += keys.length
    }
    await awaitEpochOrder(source, target, slot, FIX_EPOCH_WAIT)
  }
  await assignSlot(target, source, others, slot, guards.beforeSend)
  return moved
}

function bothSidesRefusal(slot: number, source: MasterConn, target: MasterConn, keys: readonly string[], afterFailover: boolean): UserError {
  const shown = keys.slice(0, 10).join(', ') + (keys.length > 10 ? ` and ${keys.length - 10} more` : '')
  const why = afterFailover ? 'which took over the slot after a failover and served it without ASK' : 'which serves the slot: its copy is the newer after a MIGRATE that timed out, an older one if it restarted from a snapshot taken before the migration'
  return new UserError(
    'PRECONDITION',
    `slot ${slot}: ${keys.length} key(s) exist on both ${source.node} (${why}) and ${target.node} (which holds what was migrated before): ${shown}. Each copy may hold acknowledged writes the other lacks`,
    `merge each key by hand and delete one copy (on ${target.node}, send ASKING first), or run \`redis fix --yes --replace\` to keep ${source.node}'s copies; the dry run (--json) lists them in keysOnBothSides`,
  )
}

/** NO_GUARDS check nothing: fixOpenSlots called without a lock (a dry run). */
const NO_GUARDS: LeaseGuards = {beforeSend: () => undefined, migrate: (_what, requestedMs) => ({timeoutMs: requestedMs, wait: () => null})}

/** FIX_EPOCH_WAIT: `redis fix` runs by hand, with no executor to stop it: the wall clock, no stop signal, and the way out is running it again. */
const FIX_EPOCH_WAIT: EpochWaitOptions = {now: () => Date.now(), sleep: (ms: number) => sleepFor(ms), wayOut: 'check the cluster bus between the two masters (`redis-cli --cluster check`), then run `redis fix` again'}

async function owns(r: Redis, slot: number): Promise<boolean> {
  return myself(await readClusterNodes(r))!.slots.includes(slot)
}
