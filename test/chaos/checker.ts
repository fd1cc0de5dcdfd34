import {type FinalRead, type HistoryOp} from './history.js'

/** Anomaly is one violation the checker found, with the operations that show it. */
export interface Anomaly {
  key: string
  kind: 'lost-write' | 'stale-read' | 'phantom-read' | 'version-mismatch' | 'real-time-order'
  detail: string
  /** read is the id of the read that shows it (undefined: the final read). */
  read?: number
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
 * - no read returns a value no write (acked or unknown) wrote — a failed (4xx) write had
 *   certainly no effect, so reading its value is a phantom too — and a read of an
 *   acknowledged write, invoked after that write's acknowledgement, carries the version the
 *   write was acknowledged with (a read overlapping it may see an attempt it re-issued);
 * - no read returns a version older than the newest write acknowledged before the read
 *   was invoked (a 404 counts as the tombstone's version, and a 404 without one — no record
 *   at all — as older than anything unless a delete newer than that write, acknowledged or
 *   unknown, may have been purged since): reads see every completed write;
 * - after the run (and repair), each key reads as a written value at a version at least
 *   the newest acknowledged one: every acknowledged write stays visible until a
 *   later-versioned write overwrites it. Each acknowledged write newer than the final
 *   version is one lost write.
 * - **real-time order**, judged on the client's clock alone (not on the system's versions):
 *   if write A was acknowledged before write B was invoked (same key), no read invoked
 *   after B's acknowledgement returns A or anything older, and the final read does not
 *   either (B would be lost); a read or final read of "nothing" (404) after an
 *   acknowledged value write needs a delete that may have taken effect after it. Writes
 *   with `value: null` are deletes. Unacknowledged writes may take effect at any time
 *   after their invocation. See {@link realTimeAnomalies}.
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
    // A 404 without a version means no record at all: a delete's tombstone may have been purged
    // (after --tombstone-grace). It hides write `w` when `w` is itself a delete, or some delete
    // invoked before `before` (acknowledged, or unknown: it may have landed) is newer than `w`.
    const deletes = list.filter((o) => o.kind === 'write' && o.value === null && o.outcome !== 'fail')
    const purgedAfter = (w: HistoryOp, before: number) => w.value === null || deletes.some((d) => d.invoke < before && (d.version === null || d.version > w.version!))
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
        if (!w || w.outcome === 'fail') {
          const what = w ? `the value of write #${w.id}, which failed (status ${w.status}: certainly no effect)` : 'a value never written'
          report.phantomReads.push({key, kind: 'phantom-read', detail: `read #${r.id} returned ${what}: ${JSON.stringify(r.value?.slice(0, 40))}`})
          continue
        }
        // A read overlapping the write may see an attempt the router then re-issued above a newer
        // version (same value, earlier version); once the write is acknowledged, only its version.
        if (w.outcome === 'ok' && w.version !== null && r.version !== null && r.version !== w.version && r.invoke > w.complete) {
          report.phantomReads.push({key, kind: 'version-mismatch', detail: `read #${r.id} returned write #${w.id}'s value at ${r.version}, acknowledged at ${w.version}`})
        }
        readVersion = r.version ?? w.version
      } else if (r.status === 404) readVersion = r.version // a tombstone's version; null when the key is absent
      const nothing = r.status === 404 && readVersion === null
      if (threshold && (nothing ? !purgedAfter(threshold, r.complete) : readVersion === null || readVersion < threshold.version!)) {
        report.staleReads.push({key, read: r.id, kind: 'stale-read', detail: `read #${r.id} (invoked ${r.invoke.toFixed(0)}) returned ${readVersion ?? 'nothing'}; write #${threshold.id} was acknowledged at ${threshold.version} before it (completed ${threshold.complete.toFixed(0)})`})
      }
    }
    const newest = acked.reduce<string | undefined>((m, w) => (w.version !== null && (m === undefined || w.version > m) ? w.version : m), undefined)
    if (newest === undefined) continue
    const final = finals.get(key)
    let finalVersion: string | null = null
    if (final?.status === 200 && final.value !== null) {
      const w = writes.get(final.value)
      if (!w || w.outcome === 'fail') report.phantomReads.push({key, kind: 'phantom-read', detail: `final read returned ${w ? `the value of write #${w.id}, which failed (status ${w.status})` : 'a value never written'}`})
      else finalVersion = final.version ?? w.version
    } else if (final?.status === 404) finalVersion = final.version
    const finalNothing = final?.status === 404 && finalVersion === null
    const lost = acked.filter((w) => w.version !== null && (finalNothing ? !purgedAfter(w, FOREVER) : finalVersion === null || w.version > finalVersion))
    for (const w of lost) report.lostWrites.push({key, kind: 'lost-write', detail: `write #${w.id} acknowledged at ${w.version} is not visible; final read ${final ? `${final.status} at ${finalVersion ?? 'no version'}` : 'missing'}`})
  }
  // Real-time findings the version checks did not already report (same read, or a key already with lost writes).
  const staleRead = new Set(report.staleReads.map((a) => a.read))
  const lostKey = new Set(report.lostWrites.map((a) => a.key))
  for (const a of realTimeAnomalies(ops, finals)) {
    if (a.kind === 'lost-write' && !lostKey.has(a.key)) report.lostWrites.push(a)
    else if (a.kind === 'real-time-order' && !staleRead.has(a.read)) report.staleReads.push(a)
  }
  return report
}

const FOREVER = Number.POSITIVE_INFINITY

/**
 * realTimeAnomalies checks a register-per-key history for real-time order on the client's
 * clock only. Each read (and the final read, invoked after everything) returns a write W
 * (200: the write of that value) or "nothing" (404: a delete or the initial state). It is
 * stale when some write B acknowledged before the read was invoked was invoked after W
 * was acknowledged (W precedes B in real time, so B must hide W). A 404 is stale when the
 * latest-invoked value write B acknowledged before the read has no delete that could
 * follow it: a delete invoked before the read completed and not acknowledged before B was
 * invoked. A stale final read is a lost write (B). Unacknowledged writes complete "never".
 */
export function realTimeAnomalies(ops: readonly HistoryOp[], finals: ReadonlyMap<string, FinalRead>): Anomaly[] {
  const out: Anomaly[] = []
  const byKey = new Map<string, HistoryOp[]>()
  for (const op of ops) {
    let list = byKey.get(op.key)
    if (!list) byKey.set(op.key, (list = []))
    list.push(op)
  }
  for (const [key, list] of byKey) {
    const writes = list.filter((o) => o.kind === 'write' && o.outcome !== 'fail')
    const byValue = new Map<string, HistoryOp>()
    for (const w of writes) if (w.value !== null) byValue.set(w.value, w)
    const ackedEnd = (w: HistoryOp) => (w.outcome === 'ok' ? w.complete : FOREVER)
    // Acked writes in completion order with the running "latest invocation" among them.
    const acked = writes.filter((w) => w.outcome === 'ok').sort((a, b) => a.complete - b.complete)
    const deletes = writes.filter((w) => w.value === null)
    /** latestBefore returns the acked write (of values only, when asked) invoked last among those completed before `t`. */
    const latestBefore = (t: number, valuesOnly: boolean): HistoryOp | undefined => {
      let best: HistoryOp | undefined
      for (const b of acked) {
        if (b.complete >= t) break
        if (valuesOnly && b.value === null) continue
        if (!best || b.invoke > best.invoke) best = b
      }
      return best
    }
    const judge = (read: number | undefined, invoke: number, complete: number, status: number, value: string | null, lost: boolean) => {
      const label = read === undefined ? 'the final read' : `read #${read}`
      if (status === 200) {
        const w = value === null ? undefined : byValue.get(value)
        if (!w) return // a phantom: reported by the version checks
        const b = latestBefore(invoke, false)
        if (b && b !== w && ackedEnd(w) < b.invoke) {
          out.push({key, read, kind: lost ? 'lost-write' : 'real-time-order', detail: `${label} returned write #${w.id} (acked at ${w.complete.toFixed(0)}), but ${b.value === null ? 'delete' : 'write'} #${b.id} was invoked after that (${b.invoke.toFixed(0)}) and acknowledged before the read began`})
        }
        return
      }
      if (status !== 404) return
      const b = latestBefore(invoke, true)
      if (!b) return
      const excuse = deletes.find((d) => d.invoke < complete && ackedEnd(d) >= b.invoke)
      if (!excuse) out.push({key, read, kind: lost ? 'lost-write' : 'real-time-order', detail: `${label} found nothing, but write #${b.id} was acknowledged before it began and no delete could have followed it`})
    }
    for (const r of list) if (r.kind === 'read' && r.outcome === 'ok') judge(r.id, r.invoke, r.complete, r.status, r.value, false)
    const final = finals.get(key)
    if (final && (final.status === 200 || final.status === 404)) judge(undefined, FOREVER, FOREVER, final.status, final.value, true)
  }
  return out
}
