/** A progress reading of a copy: bytes copied so far at time t (ms). */
export interface PaceSample {
  t: number
  bytes: number
}

/**
 * paceBySegments splits a copy's progress into `parts` equal shares of its bytes and returns
 * each share's rate (bytes/s), from the times the progress crossed each share's bounds
 * (interpolated between readings). It tells whether a copy slows as the destination fills
 * (a larger b-tree, a longer WAL), which one average over the whole copy hides. Empty when
 * the readings do not reach the bytes of the last share, or fewer than two were taken.
 */
export function paceBySegments(samples: readonly PaceSample[], parts: number): number[] {
  if (samples.length < 2 || parts < 1) return []
  const first = samples[0]!
  const last = samples.at(-1)!
  const total = last.bytes - first.bytes
  if (total <= 0) return []
  const crossing = (bytes: number): number => {
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1]!
      const b = samples[i]!
      if (b.bytes >= bytes) return b.bytes === a.bytes ? b.t : a.t + ((b.t - a.t) * (bytes - a.bytes)) / (b.bytes - a.bytes)
    }
    return NaN
  }
  const bounds = Array.from({length: parts + 1}, (_, k) => (k === 0 ? first.t : crossing(first.bytes + (total * k) / parts)))
  const out: number[] = []
  for (let k = 0; k < parts; k++) {
    const ms = bounds[k + 1]! - bounds[k]!
    out.push(ms > 0 ? ((total / parts) * 1000) / ms : Infinity)
  }
  return out
}
