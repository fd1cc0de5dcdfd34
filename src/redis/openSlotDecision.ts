import {UserError} from '../errors/errors.js'
import {type RedisClusterNode, shortNodeId} from './clusterNodes.js'
import {failedTargetReplaced, resolveOpenSlotSides} from './openSlotSides.js'

/**
 * decideOpenSlot (pure) chooses how to close a slot left open between `source` (MIGRATING)
 * and `target` (IMPORTING), from where its keys actually are:
 * - keys on the target: `finish` (move what is left on the source to the target, then the
 *   target owns the slot). Writes of new keys may have gone to the target through ASK, so
 *   it may hold the only copy of some; moving back would need ASKING on a non-owner.
 * - keys only on the source, or none anywhere: `rollback` (the source keeps the slot,
 *   marks cleared): nothing moved, nothing is lost, ownership does not change.
 * `preferFinish` (the executor resuming its own forward move) finishes whenever the source
 * still owns the slot or the target already does, so a resumed move makes progress.
 */
export function decideOpenSlot(input: {sourceKeys: number; targetKeys: number; targetOwns: boolean; preferFinish: boolean}): 'finish' | 'rollback' {
  if (input.targetOwns || input.targetKeys > 0 || input.preferFinish) return 'finish'
  return 'rollback'
}

/** OpenSlotFacts is what the live masters say about one slot left open: what `redis fix` reads before deciding. */
export interface OpenSlotFacts {
  slot: number
  /**
   * ends are the ids the marks name: `source` the MIGRATING side, `target` the IMPORTING side
   * (either may be a failed node); `sourceMigrating` false when no live master marks the slot
   * MIGRATING (only the target's IMPORTING mark names the source; undefined: not known).
   */
  ends: {source?: string; target?: string; sourceMigrating?: boolean}
  /** masters are the live masters, each with whether it serves the slot by its own view and how many keys of it it holds. */
  masters: readonly {id: string; owns: boolean; keys: number}[]
  /** views are the live masters' CLUSTER NODES views (they tell whether a failed target was replaced). */
  views: readonly (readonly RedisClusterNode[])[]
}

/** OpenSlotPlan is how `redis fix` closes one open slot (full Redis ids). */
export interface OpenSlotPlan {
  /** source is the live master acting as the MIGRATING side (the failed source's successor after a failover). */
  source: string
  /** target is the live master acting as the IMPORTING side; null when a replaced target kept no key (the source rolls back alone). */
  target: string | null
  /** failed is the marked side that is not a live master any more (Redis failed it over), null when both are live. */
  failed: string | null
  sourceKeys: number
  targetKeys: number
  action: 'finish' | 'rollback'
  /**
   * afterFailover: a side failed over, so the source is not authoritative for keys the target
   * holds (the successor of a failed source served the slot without ASK): MIGRATE goes without
   * REPLACE unless the operator asks for it.
   */
  afterFailover: boolean
  /**
   * listBothSides: a slot to finish with keys on each side: the keys both hold are listed (and
   * refused) before anything moves. After a failover (the successor served the slot without
   * ASK), and without one too: the source's copy is the newer after a MIGRATE that timed out,
   * but an older one when the source restarted from a snapshot taken before the migration
   * (sourceRestart.ts), and `redis fix` cannot tell which.
   */
  listBothSides: boolean
  /** repointTarget: the target's IMPORTING mark names another node than `source` (the failed source): the target is pointed at `source` first, or it refuses the MIGRATE (CLUSTERDOWN). */
  repointTarget: boolean
  /** failedSource is the failed source `source` took over from (null otherwise): on a BUSYKEY refusal the marks are put back as Redis left them, naming it. */
  failedSource: string | null
}

/**
 * planOpenSlot (pure) decides how `redis fix` closes one open slot from what the live masters
 * say (see resolveOpenSlotSides for who acts as each side after a failover, decideOpenSlot for
 * finish or rollback). Throws UserError(PRECONDITION) naming the slot and the way out when the
 * sides cannot be named: a third live master serves the slot, the target is down but not shown
 * replaced, or no single live master took a failed side's place.
 */
export function planOpenSlot(f: OpenSlotFacts): OpenSlotPlan {
  const live = new Set(f.masters.map((m) => m.id))
  const {ends} = f
  const targetReplaced = ends.target !== undefined && !live.has(ends.target) && failedTargetReplaced(ends.target, f.views)
  const sides = resolveOpenSlotSides({source: ends.source, target: ends.target, masters: f.masters, targetReplaced})
  if (!sides) throw openSlotRefusal(f.slot, ends, f.masters, live, targetReplaced)
  const at = (id: string) => f.masters.find((m) => m.id === id)!
  const failed = [ends.source, ends.target].find((id) => id !== undefined && !live.has(id)) ?? null
  const sourceKeys = at(sides.source).keys
  const targetKeys = sides.target === null ? 0 : at(sides.target).keys
  const targetOwns = sides.target === null ? false : at(sides.target).owns
  // A live owner that marks no MIGRATING, and keys on the importing side: no migration put them there (staleImportRefusal).
  if (sides.target !== null && ends.sourceMigrating === false && sides.source === ends.source && at(sides.source).owns && targetKeys > 0) throw staleImportRefusal(f.slot, sides.source, sides.target, targetKeys)
  const action = sides.target === null ? 'rollback' : decideOpenSlot({sourceKeys, targetKeys, targetOwns, preferFinish: false})
  const afterFailover = failed !== null
  return {
    source: sides.source,
    target: sides.target,
    failed,
    sourceKeys,
    targetKeys,
    action,
    afterFailover,
    listBothSides: sides.target !== null && action === 'finish' && sourceKeys > 0 && targetKeys > 0,
    repointTarget: sides.target !== null && ends.source !== sides.source,
    failedSource: ends.source !== undefined && ends.source !== sides.source ? ends.source : null,
  }
}

/** openSlotRefusal explains why the sides of `slot` cannot be named (resolveOpenSlotSides answered undefined). */
function openSlotRefusal(slot: number, ends: {source?: string; target?: string}, masters: readonly {id: string; owns: boolean}[], live: ReadonlySet<string>, targetReplaced: boolean): UserError {
  const named = (id: string | undefined) => (id === undefined ? '?' : shortNodeId(id))
  const marked = `${named(ends.source)} -> ${named(ends.target)}`
  const sourceLive = ends.source !== undefined && live.has(ends.source)
  const targetLive = ends.target !== undefined && live.has(ends.target)
  const owners = masters.filter((v) => v.owns).map((v) => shortNodeId(v.id))
  if (sourceLive && owners.some((o) => o !== named(ends.source) && o !== named(ends.target)))
    return new UserError('PRECONDITION', `slot ${slot} (open ${marked}) is served by more than one live master by their own views (${owners.join(', ')}): a failed-over master that resumed may still answer as its owner`, 'wait a few seconds for the cluster to settle (Redis demotes the stale master), check with `redis-cli --cluster check`, then run `redis fix` again')
  if (sourceLive && !targetLive && !targetReplaced)
    return new UserError('PRECONDITION', `slot ${slot} is open towards ${named(ends.target)}, which is down but not replaced (no replica took over yet): it may hold the keys already migrated, which rolling the slot back would leave unreachable once it returns`, `bring ${named(ends.target)} back, or wait for Redis to fail it over to a replica, then run \`redis fix\` again`)
  return new UserError('PRECONDITION', `slot ${slot} is open towards a node that is not a live master (${marked}), and no single live master took its place`, 'bring that node back, or close the slot by hand with CLUSTER SETSLOT')
}

/**
 * staleImportRefusal is `redis fix`'s refusal of a slot only the target marks (IMPORTING from
 * `source`, a live master that serves the slot and marks no MIGRATING) while the target holds
 * keys of it. No client reaches those keys (the owner answers without ASK), and the usual way
 * there is Redis itself: a master restarted from a snapshot taken while it still owned the slot
 * loads the snapshot's keys and marks the slot IMPORTING from its new owner
 * (verifyClusterConfigWithData). Finishing such a slot gave the restarted master the slot and
 * brought back the snapshot's copies, deleted or rewritten on the owner since, and took the slot
 * off the master the records name. The other way there (keys migrated, then the owner's
 * MIGRATING mark cleared by hand) cannot be told apart, so the operator says which.
 */
function staleImportRefusal(slot: number, source: string, target: string, targetKeys: number): UserError {
  const [s, t] = [shortNodeId(source), shortNodeId(target)]
  return new UserError(
    'PRECONDITION',
    `slot ${slot}: ${t} imports it from ${s}, which is not migrating it (no MIGRATING mark) and serves it, while ${t} holds ${targetKeys} key(s) of it no client reaches: most likely copies ${t} loaded from a snapshot after the slot left it (Redis marks such a slot IMPORTING when it starts), which finishing would bring back over ${s}'s and give ${t} the slot; nothing was changed`,
    `if ${t} restarted from an older snapshot: on ${t}, DEL each of its keys of the slot (CLUSTER GETKEYSINSLOT ${slot} 1000; ASKING before each DEL) and run CLUSTER SETSLOT ${slot} STABLE; if they are keys migrated to ${t} whose migration lost ${s}'s mark: CLUSTER SETSLOT ${slot} MIGRATING ${target} on ${s}, then \`shardctl redis fix --yes\``,
  )
}
