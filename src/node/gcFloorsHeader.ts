import {type HashRange} from '../model/range.js'
import {type GcFloor} from './lwwSql.js'

/**
 * GC_FLOORS_HEADER, on a copy stream's response (`GET /v1/shards/{id}/stream`): the source's
 * gc floors over the streamed range, clipped to it, as JSON `[[lo, hi, floor], ...]` (`[]`:
 * none). The destination adopts them before it applies the stream's first frame (see
 * CopyPuller). Absent: the source predates it, and the destination adopts nothing.
 */
export const GC_FLOORS_HEADER = 'x-shardctl-gc-floors'

/**
 * MAX_GC_FLOORS bounds the floors one header carries (about 9 KiB, under the 16 KiB of
 * response headers a client takes). A shard's range holds a handful: its own fence's, one
 * per split generation above it, and those adopted from a copy's source.
 */
export const MAX_GC_FLOORS = 256

/** floorsOver returns the parts of `floors` inside `range` (each clipped to it; floors of 0 and empty parts left out). */
export function floorsOver(floors: readonly GcFloor[], range: HashRange): GcFloor[] {
  const out: GcFloor[] = []
  for (const f of floors) {
    const lo = Math.max(f.lo, range.lo)
    const hi = Math.min(f.hi, range.hi)
    if (lo < hi && f.floor > 0) out.push({lo, hi, floor: f.floor})
  }
  return out
}

/**
 * encodeGcFloors is the {@link GC_FLOORS_HEADER} value of `floors`. Past {@link MAX_GC_FLOORS}
 * it keeps the highest ones: a part of the range left out is copied as from a source that
 * sends no floor (as before floors were sent), never with a wrong one.
 */
export function encodeGcFloors(floors: readonly GcFloor[]): string {
  const kept = floors.length <= MAX_GC_FLOORS ? floors : [...floors].sort((a, b) => b.floor - a.floor).slice(0, MAX_GC_FLOORS)
  return JSON.stringify(kept.map((f) => [f.lo, f.hi, f.floor]))
}

/**
 * parseGcFloors reads a {@link GC_FLOORS_HEADER} value: undefined when the header is absent
 * (a source that predates it), the floors otherwise (the reader clips them to its range:
 * {@link floorsOver}). Throws RangeError, naming what is wrong, for a value that is not a
 * list of `[lo, hi, floor]` non-negative integers with lo < hi: a source that sends a floor
 * the destination cannot read must not be copied from as if it had none.
 */
export function parseGcFloors(value: string | string[] | undefined): GcFloor[] | undefined {
  if (value === undefined) return undefined
  const raw = Array.isArray(value) ? value.join(',') : value
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch {
    throw new RangeError(`${GC_FLOORS_HEADER} is not JSON: ${JSON.stringify(raw.slice(0, 100))}`)
  }
  if (!Array.isArray(parsed) || parsed.length > MAX_GC_FLOORS) throw new RangeError(`${GC_FLOORS_HEADER} must be a list of at most ${MAX_GC_FLOORS} [lo, hi, floor] triples`)
  return parsed.map((t: unknown) => {
    const ok = Array.isArray(t) && t.length === 3 && t.every((n) => Number.isSafeInteger(n) && (n as number) >= 0)
    const [lo, hi, floor] = (ok ? t : []) as number[]
    if (!ok || lo! >= hi!) throw new RangeError(`${GC_FLOORS_HEADER} holds ${JSON.stringify(t)}: not a [lo, hi, floor] of non-negative integers with lo < hi`)
    return {lo: lo!, hi: hi!, floor: floor!}
  })
}
