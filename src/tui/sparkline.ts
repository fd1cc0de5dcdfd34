/** SPARK_GLYPHS are the eight bar heights of a sparkline, lowest first. */
export const SPARK_GLYPHS = '▁▂▃▄▅▆▇█'

/**
 * sparkline draws the last `width` values as one line of bar glyphs, scaled so that
 * `scale` (default: the largest value shown) is a full bar; values above the scale are
 * drawn full. A null value (nothing measured then) is a blank, a zero the lowest glyph,
 * so "idle" and "unknown" look different. Fewer values than `width` give a shorter line
 * (the series grows from the left). Pure.
 */
export function sparkline(values: readonly (number | null)[], width: number, scale?: number): string {
  if (width <= 0) return ''
  const shown = values.slice(-width)
  const top = scale ?? Math.max(0, ...shown.map((v) => v ?? 0))
  return shown
    .map((v) => {
      if (v === null || !Number.isFinite(v)) return ' '
      if (top <= 0 || v <= 0) return SPARK_GLYPHS[0]
      const level = Math.min(SPARK_GLYPHS.length - 1, Math.max(0, Math.ceil((v / top) * SPARK_GLYPHS.length) - 1))
      return SPARK_GLYPHS[level]
    })
    .join('')
}
