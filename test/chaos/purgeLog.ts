/** PurgeCounts are the tombstones the nodes' anti-entropy logged as purged: in all, and at or after a moment. */
export interface PurgeCounts {
  total: number
  since: number
}

/**
 * purgesIn sums the `purgedTombstones` of the nodes' `anti-entropy` log lines (the JsonLog
 * shape of src/log/jsonLog.ts: `time` is ISO-8601), in all and for lines stamped at or after
 * `sinceMs`. A partial last line (a SIGKILLed node) is skipped. Throws when a purge line has
 * no readable `time`: the scenario once read a field the logger had renamed (`t`), so
 * "purged since" was NaN-compared to 0 on every run and the scenario failed as "fault did
 * not land" whatever the nodes did; a format change must fail here, by name, instead.
 */
export function purgesIn(logs: string, sinceMs: number): PurgeCounts {
  let total = 0
  let since = 0
  for (const line of logs.split('\n')) {
    if (!line.includes('"purgedTombstones"')) continue
    let entry: {time?: unknown; purgedTombstones?: unknown}
    try {
      entry = JSON.parse(line) as typeof entry
    } catch {
      continue // a partial line at the end of a killed node's log
    }
    const at = typeof entry.time === 'string' ? Date.parse(entry.time) : Number.NaN
    if (Number.isNaN(at) || typeof entry.purgedTombstones !== 'number') throw new Error(`purge log line without a readable time or count (has the node log format changed?): ${line.slice(0, 200)}`)
    total += entry.purgedTombstones
    if (at >= sinceMs) since += entry.purgedTombstones
  }
  return {total, since}
}
