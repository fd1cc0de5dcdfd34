/**
 * Prometheus histogram arithmetic for the benches: read one histogram series out of an
 * exposition text, subtract an earlier scrape to get what happened in between, and read a
 * quantile off the buckets. Pure: no I/O.
 */

/** Buckets are one histogram series' cumulative counts by upper bound `le` (ascending, +Inf last). */
export interface Buckets {
  le: number[]
  counts: number[]
}

/**
 * histogramBuckets returns the buckets of `name` whose labels include every `labels` pair
 * (several matching series are summed, so `{op: 'apply'}` adds every status), or undefined
 * when no series matches.
 */
export function histogramBuckets(text: string, name: string, labels: Record<string, string> = {}): Buckets | undefined {
  const byLe = new Map<number, number>()
  const prefix = `${name}_bucket{`
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue
    const close = line.lastIndexOf('}')
    const pairs = labelPairs(line.slice(prefix.length, close))
    if (!matches(pairs, labels)) continue
    const leText = pairs.get('le')
    const count = Number(line.slice(close + 1).trim())
    if (leText === undefined || !Number.isFinite(count)) continue
    const le = leText === '+Inf' ? Infinity : Number(leText)
    byLe.set(le, (byLe.get(le) ?? 0) + count)
  }
  if (byLe.size === 0) return undefined
  const le = [...byLe.keys()].sort((a, b) => a - b)
  return {le, counts: le.map((x) => byLe.get(x) ?? 0)}
}

/** bucketsBetween is what was observed between two scrapes of one series (`before` missing: everything in `after`). */
export function bucketsBetween(after: Buckets, before: Buckets | undefined): Buckets {
  if (!before) return after
  return {le: after.le, counts: after.counts.map((c, i) => c - (before.le[i] === after.le[i] ? (before.counts[i] ?? 0) : 0))}
}

/**
 * histogramBetween is what series `name` (every series matching `labels`, as
 * {@link histogramBuckets}) observed between two scrapes' exposition texts: undefined when
 * `after` holds no such series; everything in `after` when `before` holds none (a failed
 * scrape, or a process started in between).
 */
export function histogramBetween(before: string, after: string, name: string, labels: Record<string, string> = {}): Buckets | undefined {
  const later = histogramBuckets(after, name, labels)
  return later && bucketsBetween(later, histogramBuckets(before, name, labels))
}

/**
 * histogramSumBetween is how much series `name` (every series matching `labels`) summed
 * between two scrapes' exposition texts (its `_sum`): undefined when `after` holds no such
 * series; everything in `after` when `before` holds none.
 */
export function histogramSumBetween(before: string, after: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const later = seriesSum(after, name, labels)
  return later === undefined ? undefined : later - (seriesSum(before, name, labels) ?? 0)
}

/** seriesSum adds the `_sum` samples of `name` whose labels include every `labels` pair; undefined when none matches. */
function seriesSum(text: string, name: string, labels: Record<string, string>): number | undefined {
  let sum: number | undefined
  for (const line of text.split('\n')) {
    const bare = line.startsWith(`${name}_sum `)
    if (!bare && !line.startsWith(`${name}_sum{`)) continue
    const close = bare ? name.length + 4 : line.lastIndexOf('}')
    if (!matches(bare ? new Map() : labelPairs(line.slice(name.length + 5, close)), labels)) continue
    const value = Number(line.slice(close + 1).trim())
    if (Number.isFinite(value)) sum = (sum ?? 0) + value
  }
  return sum
}

/** labelPairs reads a series' label text (`op="apply",le="0.1"`, without braces) into name → value. */
function labelPairs(text: string): Map<string, string> {
  const pairs = new Map<string, string>()
  for (const m of text.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) pairs.set(m[1] ?? '', m[2] ?? '')
  return pairs
}

/** matches tells whether a series' labels include every `labels` pair. */
function matches(pairs: ReadonlyMap<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(labels).every(([k, v]) => pairs.get(k) === v)
}

/** total is how many observations the buckets hold. */
export function total(b: Buckets): number {
  return b.counts.at(-1) ?? 0
}

/**
 * quantileBound is the smallest bucket bound under which at least `q` of the observations
 * fall: an upper bound on the q-quantile, as fine as the buckets (Infinity if only the +Inf
 * bucket reaches it; NaN with no observations).
 */
export function quantileBound(b: Buckets, q: number): number {
  const n = total(b)
  if (n <= 0) return NaN
  const need = Math.ceil(q * n - 1e-9) // 0.99 * 100 must need 99, whatever the float rounding
  for (let i = 0; i < b.le.length; i++) if ((b.counts[i] ?? 0) >= need) return b.le[i] ?? Infinity
  return Infinity
}

/** shareAbove is the fraction of observations above bucket bound `le` (which must be one of the bounds), NaN with none. */
export function shareAbove(b: Buckets, le: number): number {
  const n = total(b)
  const i = b.le.indexOf(le)
  if (n <= 0 || i < 0) return NaN
  return (n - (b.counts[i] ?? 0)) / n
}
