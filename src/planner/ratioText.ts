/**
 * MAX_RATIO_DECIMALS: past this many decimals a utilisation is within the planner's own
 * tolerance of a bound (UTIL_EPSILON, 1e-9), so more digits would show noise, not a difference.
 */
const MAX_RATIO_DECIMALS = 9
/** SAME_RATIO: a ratio this close to a bound counts as on it (the planner's UTIL_EPSILON). */
const SAME_RATIO = 1e-9

/**
 * ratioText writes a utilisation ratio (1.00 = the mean) with two decimals, or with as many
 * more as it takes (up to 9) to tell it apart from each bound in `bounds` it differs from.
 * Two decimals alone can print a node at 1.012x, outside a --max-imbalance 1.01 band, as
 * "1.01x" next to the band "0.99..1.01x": a line that contradicts itself.
 */
export function ratioText(x: number, bounds: readonly number[] = []): string {
  for (let d = 2; d < MAX_RATIO_DECIMALS; d++) {
    const text = x.toFixed(d)
    if (bounds.every((b) => Math.abs(b - x) <= SAME_RATIO || text !== b.toFixed(d))) return text
  }
  return x.toFixed(MAX_RATIO_DECIMALS)
}

/** boundText writes a band bound (a target such as 1.1, or its floor 2 - 1.1) with two decimals, or as many more as it needs (0.995 stays 0.995), without float noise. */
export function boundText(x: number): string {
  for (let d = 2; d < MAX_RATIO_DECIMALS; d++) {
    const text = x.toFixed(d)
    if (Math.abs(Number(text) - x) < 1e-12) return text
  }
  return x.toFixed(MAX_RATIO_DECIMALS)
}

/** bandBounds are the edges of the target band around the mean, [floor, target] (floor 2 - target, never below 0): what {@link ratioText} tells a figure apart from. */
export function bandBounds(target: number): number[] {
  return [Math.max(0, 2 - target), target]
}

/** bandText is the target band [floor, target] as `0.90..1.10x the mean`. */
export function bandText(floor: number, target: number): string {
  return `${boundText(floor)}..${boundText(target)}x the mean`
}
