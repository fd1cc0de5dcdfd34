/**
 * utilisationBar draws `value` as a horizontal bar `width` cells wide on a scale of 0 to
 * `scale`, in eighth-cell steps, with `│` marking `target` where the bar does not reach it.
 * Pure text, so it renders the same in a terminal, a log and a markdown table.
 */
export function utilisationBar(value: number, scale: number, width: number, target?: number): string {
  const eighths = Math.max(0, Math.min(width * 8, Math.round((value / scale) * width * 8)))
  const full = Math.floor(eighths / 8)
  const partial = eighths % 8
  const cells: string[] = []
  for (let i = 0; i < width; i++) {
    if (i < full) cells.push('█')
    else if (i === full && partial > 0) cells.push(PARTIAL[partial]!)
    else cells.push(' ')
  }
  if (target !== undefined) {
    const at = Math.min(width - 1, Math.floor((target / scale) * width))
    if (cells[at] === ' ') cells[at] = '│'
  }
  return cells.join('')
}

const PARTIAL = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉']
