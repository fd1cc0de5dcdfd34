/**
 * suggestCommand picks the known command id closest to a mistyped one (`node:dran` →
 * `node:drain`, `stat` → `stats`), comparing whole ids and, for multi-word ids, the words
 * the user typed with the same number of words. Returns undefined when nothing is close
 * enough (edit distance over a third of the longer id, and over 3) to be a useful guess.
 */
export function suggestCommand(typed: string, known: readonly string[]): string | undefined {
  let best: {id: string; distance: number} | undefined
  for (const id of known) {
    const distance = editDistance(typed, id)
    if (!best || distance < best.distance || (distance === best.distance && id < best.id)) best = {id, distance}
  }
  if (!best) return undefined
  const limit = Math.max(3, Math.ceil(Math.max(typed.length, best.id.length) / 3))
  return best.distance <= limit ? best.id : undefined
}

/** editDistance is the Levenshtein distance between two strings (insert, delete, substitute: 1 each). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({length: b.length + 1}, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)))
    prev = row
  }
  return prev[b.length]!
}
