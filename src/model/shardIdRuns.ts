/**
 * shardIdRuns describes a set of shard ids as runs of consecutive ids, the way an operator
 * reads them: `0..7`, or `0..3, 5, 9..12` once splits have taken new numbers. Ids may come
 * in any order and repeat. At most `maxRuns` runs are printed; the rest are summarised
 * (`0..3, 5, … (40 shards)`) so a cluster with many scattered ids still gets one short line.
 * Returns '' for no ids.
 */
export function shardIdRuns(ids: readonly number[], maxRuns = 6): string {
  const sorted = [...new Set(ids)].sort((a, b) => a - b)
  const runs: string[] = []
  for (let i = 0; i < sorted.length; ) {
    let j = i
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++
    runs.push(i === j ? `${sorted[i]}` : `${sorted[i]}..${sorted[j]}`)
    i = j + 1
  }
  if (runs.length <= maxRuns) return runs.join(', ')
  return `${runs.slice(0, maxRuns).join(', ')}, … (${sorted.length} shards)`
}
