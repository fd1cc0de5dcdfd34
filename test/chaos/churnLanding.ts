import {type HistoryOp} from './history.js'
import {type PurgeCounts} from './purgeLog.js'

/** ChurnRun is what the tombstone-churn scenario did: its history, when its fault began, when the node came back, the grace, and the nodes' purges. */
export interface ChurnRun {
  ops: readonly HistoryOp[]
  /** faultAt: when the copying move's destination was SIGKILLed (ms, the history's clock). */
  faultAt: number
  /** restartedAt: when it served again; `purges.since` counts from here. */
  restartedAt: number
  graceMs: number
  purges: PurgeCounts
}

/**
 * CHURN_SHARES are the fractions of what the run itself did that its landing checks demand.
 * A run on 2026-12-01 (load ~12): 763 of the window's 763 deletes acknowledged 3 graces
 * before the end, 765 of its 915 reads reading a key deleted 2 graces before (a read-back
 * picks one of the worker's earlier keys at random, so most were deleted long before), 3065
 * tombstones purged (rf 3: about 3 per old delete). Each share is a half to an eighth of
 * that, so a slow run (fewer operations, all scaled down alike) passes, while a run whose
 * deletes were not acknowledged, not read back or never purged fails.
 */
export const CHURN_SHARES = {oldDeletes: 1 / 2, readBacks: 1 / 4, purgesPerOldDelete: 1 / 2}

/**
 * churnLanding checks that the tombstone-churn fault landed, against what the run did in
 * its fault window (from the kill to the end of the history), not fixed counts: most
 * deletes issued there were acknowledged at least 3 graces before the end (time for their
 * tombstones to be purged); a share of the window's reads read keys deleted at least 2
 * graces before; the nodes purged tombstones for a share of those old deletes, in all and
 * after the restart. Returns the problems (empty: landed) and a note with the figures. Pure.
 */
export function churnLanding(run: ChurnRun): {problems: string[]; note: string} {
  const problems: string[] = []
  const {graceMs} = run
  const end = Math.max(...run.ops.map((o) => o.complete))
  const oldBy = end - 3 * graceMs
  const isDelete = (o: HistoryOp) => o.kind === 'write' && o.value === null
  const issued = run.ops.filter((o) => isDelete(o) && o.invoke >= run.faultAt && o.invoke <= oldBy)
  const old = issued.filter((o) => o.outcome === 'ok' && o.complete <= oldBy)
  const wantOld = Math.max(1, Math.ceil(issued.length * CHURN_SHARES.oldDeletes))
  if (old.length < wantOld) problems.push(`only ${old.length} of the ${issued.length} deletes issued in the fault window were acknowledged 3 graces before the end (want >= ${wantOld})`)
  const deletedAt = new Map(run.ops.filter((o) => isDelete(o) && o.outcome === 'ok').map((d) => [d.key, d.complete]))
  const reads = run.ops.filter((o) => o.kind === 'read' && o.outcome === 'ok' && o.invoke >= run.faultAt)
  const readBacks = reads.filter((o) => (deletedAt.get(o.key) ?? Infinity) <= o.invoke - 2 * graceMs)
  const wantReadBacks = Math.max(1, Math.ceil(reads.length * CHURN_SHARES.readBacks))
  if (readBacks.length < wantReadBacks) problems.push(`only ${readBacks.length} of the ${reads.length} reads in the fault window read a key deleted 2 graces before (want >= ${wantReadBacks})`)
  const wantPurged = Math.max(1, Math.ceil(old.length * CHURN_SHARES.purgesPerOldDelete))
  if (run.purges.total < wantPurged) problems.push(`the nodes purged only ${run.purges.total} tombstones for ${old.length} old deletes (want >= ${wantPurged})`)
  const oldSince = old.filter((o) => o.invoke >= run.restartedAt)
  const wantSince = Math.max(1, Math.ceil(oldSince.length * CHURN_SHARES.purgesPerOldDelete))
  if (run.purges.since < wantSince) problems.push(`the nodes purged only ${run.purges.since} tombstones after the restart for ${oldSince.length} old deletes issued after it (want >= ${wantSince})`)
  const note = `fault window: ${old.length} of ${issued.length} deletes acked >= 3 graces before the end, ${readBacks.length} of ${reads.length} reads >= 2 graces after their key's delete; ${run.purges.total} tombstones purged (${run.purges.since} after the restart, ${oldSince.length} old deletes issued after it)`
  return {problems, note}
}
