/**
 * nearestRankInPlace returns the `q` quantile (nearest rank: the ceil(q·n)-th smallest) of
 * `values`, reordering them; NaN when there are none. A quickselect, so a router that closes
 * a window of tens of thousands of latencies every second spends O(n) on its p99, not the
 * sort's O(n log n) on the thread that serves its clients.
 */
export function nearestRankInPlace(values: Float64Array, q: number): number {
  const n = values.length
  if (n === 0) return NaN
  const k = Math.min(n - 1, Math.max(0, Math.ceil(n * q) - 1))
  let lo = 0
  let hi = n - 1
  // The pivot is drawn at random from [lo, hi] (a fixed-seed xorshift: the same input gives the
  // same work): latencies come in arrival order, and a window that rose and fell (an organ
  // pipe, 0..n/2..0) handed the middle element, a near-extreme, back round after round.
  let seed = 0x9e3779b9
  while (hi > lo) {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    // Hoare partition around a random element of [lo, hi].
    const pivot = values[lo + ((seed >>> 0) % (hi - lo + 1))]!
    let i = lo
    let j = hi
    while (i <= j) {
      while (values[i]! < pivot) i++
      while (values[j]! > pivot) j--
      if (i <= j) {
        const t = values[i]!
        values[i] = values[j]!
        values[j] = t
        i++
        j--
      }
    }
    if (k <= j) hi = j
    else if (k >= i) lo = i
    else break // k sits between j and i: every element there equals the pivot
  }
  return values[k]!
}
