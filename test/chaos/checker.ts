import {type FinalRead, type HistoryOp} from './history.js'

/** Anomaly is one violation the checker found, with the operations that show it. */
export interface Anomaly {
  key: string
  kind: 'lost-write' | 'stale-read' | 'phantom-read' | 'version-mismatch'
  detail: string
}

/** CheckReport summarises a history: counts and every anomaly (each list must be empty). */
export interface CheckReport {
  operations: number
  writesAcked: number
  writesUnknown: number
  writesFailed: number
  readsOk: number
  readsFailed: number
  lostWrites: Anomaly[]
  staleReads: Anomaly[]
  /** phantomReads: a read returned a value no write ever wrote, or a version that contradicts the write's ack. */
  phantomReads: Anomaly[]
}

/**
 * checkHistory verifies a register-per-key history (versions are HLC strings whose byte
 * order is their time order; every write's value is unique per key):
 * - no read returns a value no write (acked, failed or unknown) wrote, and a read of an
 *   acknowledged write carries the version that write was acknowledged with;
 * - no read returns a version older than the newest write acknowledged before the read
 *   was invoked (404 counts as older than anything): reads see every completed write;
 * - after the run (and repair), each key reads as a written value at a version at least
 *   the newest acknowledged one: every acknowledged write stays visible until a
 *   later-versioned write overwrites it. Each acknowledged write newer than the final
 *   version is one lost write.
 * A DELETE is a write with value null; a 404 read carries the tombstone's version, or none
 * once the tombstone was purged — an absent key then satisfies a preceding acknowledged
 * DELETE (and only that), so a value coming back after a purge is a stale read.
 * Pure: no clock, no I/O.
 */
export function checkHistory(ops: readonly HistoryOp[], finals: ReadonlyMap<string, FinalRead>): CheckReport {
  const report: CheckReport = {operations: ops.length, writesAcked: 0, writesUnknown: 0, writesFailed: 0, readsOk: 0, readsFailed: 0, lostWrites: [], staleReads: [], phantomReads: []}
  const byKey = new Map<string, HistoryOp[]>()
  for (const op of ops) {
    if (op.kind === 'write') {
      if (op.outcome === 'ok') report.writesAcked++
      else if (op.outcome === 'unknown') report.writesUnknown++
      else report.writesFailed++
    } else if (op.outcome === 'ok') report.readsOk++
    else report.readsFailed++
    let list = byKey.get(op.key)
    if (!list) byKey.set(op.key, (list = []))
    list.push(op)
  }
  for (const [key, list] of byKey) {
    const writes = new Map<string, HistoryOp>()
    for (const op of list) if (op.kind === 'write' && op.value !== null) writes.set(op.value, op)
    // Acked writes by completion time, for "newest acked before t" with a running max.
    const acked = list.filter((o) => o.kind === 'write' && o.outcome === 'ok').sort((a, b) => a.complete - b.complete)
    for (const w of acked) {
      if (w.version === null) report.phantomReads.push({key, kind: 'version-mismatch', detail: `write #${w.id} was acknowledged without a version`})
    }
    for (const r of list) {
      if (r.kind !== 'read' || r.outcome !== 'ok') continue
      let threshold: HistoryOp | undefined
      for (const w of acked) {
        if (w.complete >= r.invoke) break
        if (w.version !== null && (threshold === undefined || w.version > threshold.version!)) threshold = w
      }
      let readVersion: string | null = null
      if (r.status === 200) {
        const w = r.value === null ? undefined : writes.get(r.value)
        if (!w) {
          report.phantomReads.push({key, kind: 'phantom-read', detail: `read #${r.id} returned a value never written: ${JSON.stringify(r.value?.slice(0, 40))}`})
          continue
        }
        if (w.outcome === 'ok' && w.version !== null && r.version !== null && r.version !== w.version) {
          report.phantomReads.push({key, kind: 'version-mismatch', detail: `read #${r.id} returned write #${w.id}'s value at ${r.version}, acknowledged at ${w.version}`})
        }
        readVersion = r.version ?? w.version
      } else if (r.status === 404) readVersion = r.version // a tombstone's version; null once it is purged
      // An absent key (its tombstone purged) is what a DELETE leaves: it satisfies a delete, never a PUT.
      const absentAfterDelete = r.status === 404 && readVersion === null && threshold?.value === null
      if (threshold && !absentAfterDelete && (readVersion === null || readVersion < threshold.version!)) {
        report.staleReads.push({key, kind: 'stale-read', detail: `read #${r.id} (invoked ${r.invoke.toFixed(0)}) returned ${readVersion ?? 'nothing'}; write #${threshold.id} was acknowledged at ${threshold.version} before it (completed ${threshold.complete.toFixed(0)})`})
      }
    }
    const newest = acked.reduce<string | undefined>((m, w) => (w.version !== null && (m === undefined || w.version > m) ? w.version : m), undefined)
    if (newest === undefined) continue
    const final = finals.get(key)
    let finalVersion: string | null = null
    if (final?.status === 200 && final.value !== null) {
      const w = writes.get(final.value)
      if (!w) report.phantomReads.push({key, kind: 'phantom-read', detail: `final read returned a value never written`})
      else finalVersion = final.version ?? w.version
    } else if (final?.status === 404) {
      const newestOp = acked.find((w) => w.version === newest)
      finalVersion = final.version ?? (newestOp?.value === null ? newest : null)
    }
    const lost = acked.filter((w) => w.version !== null && (finalVersion === null || w.version > finalVersion))
    for (const w of lost) report.lostWrites.push({key, kind: 'lost-write', detail: `write #${w.id} acknowledged at ${w.version} is not visible; final read ${final ? `${final.status} at ${finalVersion ?? 'no version'}` : 'missing'}`})
  }
  return report
}
