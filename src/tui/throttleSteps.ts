/** THROTTLE_STEPS are the rates `+`/`-` step through (bytes/s): powers of two from 64 KiB/s to 1 GiB/s. */
export const THROTTLE_STEPS: readonly number[] = Array.from({length: 15}, (_, i) => 64 * 1024 * 2 ** i)

/**
 * nextThrottle is the rate after one `+` (dir 1) or `-` (dir -1) press: the next step up or
 * down from `current`. Above the last step `+` gives null (unlimited); `+` on unlimited
 * stays unlimited. `-` on unlimited starts from what the moves copy now (`observed`
 * bytes/s, summed), so slowing down never speeds up; with nothing copying it picks the
 * middle step. Pure.
 */
export function nextThrottle(current: number | null, observed: number, dir: 1 | -1): number | null {
  if (current === null) {
    if (dir === 1) return null
    const from = observed > 0 ? observed : THROTTLE_STEPS[Math.floor(THROTTLE_STEPS.length / 2)]! * 2
    return [...THROTTLE_STEPS].reverse().find((s) => s < from) ?? THROTTLE_STEPS[0]!
  }
  if (dir === 1) return THROTTLE_STEPS.find((s) => s > current) ?? null
  return [...THROTTLE_STEPS].reverse().find((s) => s < current) ?? THROTTLE_STEPS[0]!
}
