/** layoutRow pads one row's cells to `widths` (right-aligning the columns in `right`), two spaces apart. */
function layoutRow(cells: string[], widths: number[], right: number[]): string {
  return cells
    .map((c, i) => (right.includes(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
    .join('  ')
    .trimEnd()
}

/**
 * renderTable lays out rows under headers with columns padded to their widest cell;
 * columns listed in `right` are right-aligned (numbers).
 */
export function renderTable(headers: string[], rows: (string | number)[][], right: number[] = []): string {
  const cells = [headers, ...rows.map((r) => r.map(String))]
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)))
  return cells.map((r) => layoutRow(r, widths, right)).join('\n')
}

/**
 * tableHeader and formatRow lay out a streamed table, whose rows are printed before the
 * widest is known: columns have fixed minimum widths (a longer cell just pushes its line).
 * Both end with a newline.
 */
export function tableHeader(headers: string[], widths: number[], right: number[] = []): string {
  return `${layoutRow(headers, widths, right)}\n`
}

/** formatRow lays out one streamed row; see {@link tableHeader}. */
export function formatRow(cells: string[], widths: number[], right: number[] = []): string {
  return `${layoutRow(cells, widths, right)}\n`
}
