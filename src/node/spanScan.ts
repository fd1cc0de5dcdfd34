import {keyHash} from '../model/hash.js'
import {type HashRange} from '../model/range.js'
import {type CopyPageStatements, type ScanPage, scanPage} from './copyPageReader.js'
import {type NodeRecord} from './protocol.js'
import {decodeCursor, encodeCursor} from './snapshotCursor.js'
import {type SpanPart, type SpanTable} from './spanTable.js'

/** StorePages gives the range scans of the store `store` names (undefined: the main file), on whichever connection the caller reads it. */
export type StorePages = (store: string | undefined) => CopyPageStatements

/**
 * scanStores is {@link scanPage} over the stores `table` routes `range` to: with an empty
 * table exactly the main file's single scan, else {@link scanParts} over its parts. The one
 * routing both the engine's reads on its own thread and the copy reader thread use.
 * Throws RangeError for a malformed cursor or one outside `range`.
 */
export function scanStores(table: SpanTable, pages: StorePages, range: HashRange, cursor: string | undefined, maxBytes: number): ScanPage {
  if (table.isEmpty) return scanPage(pages(undefined), range, cursor, maxBytes)
  return scanParts(table.parts(range), (p) => pages(p.store), range, cursor, maxBytes)
}

/** rowsAcross iterates the rows of `range` as raw arrays in (hash, key) order, each part read from the store `table` routes it to. */
export function* rowsAcross(table: SpanTable, pages: StorePages, range: HashRange): Generator<[number, Buffer, string, Buffer | null]> {
  const parts: SpanPart[] = table.isEmpty ? [{lo: range.lo, hi: range.hi}] : table.parts(range)
  for (const p of parts) yield* pages(p.store).from.iterate(p.lo, p.hi)
}

/**
 * scanParts is {@link scanPage} over a range that several stores serve: `parts` cut the
 * range at the stores' spans (SpanTable.parts, in hash order) and `pages` gives the scans of
 * the store serving a part. It reads the parts in order from the one holding `cursor`,
 * stopping once about `maxBytes` are collected (at least one record), so the (hash, key)
 * order and the cursor are exactly those of one store holding the whole range: a copy or
 * scan resumes across a store's edge, and across a restart, as before. Throws RangeError for
 * a malformed cursor or one outside `range`.
 */
export function scanParts(parts: readonly SpanPart[], pages: (part: SpanPart) => CopyPageStatements, range: HashRange, cursor: string | undefined, maxBytes: number): ScanPage {
  let after = cursor
  if (cursor !== undefined) {
    const c = decodeCursor(cursor)
    if (c.hash < range.lo || c.hash >= range.hi) throw new RangeError(`cursor at hash ${c.hash} is outside [${range.lo}, ${range.hi})`)
    parts = parts.filter((p) => p.hi > c.hash)
  }
  const records: NodeRecord[] = []
  let bytes = 0
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!
    if (records.length > 0 && bytes >= maxBytes) {
      // Full at a part's edge: resume after the last record taken if a later part holds any
      // (as one store's scan, which gives a cursor only when more follows).
      const last = records[records.length - 1]!
      const more = parts.slice(i).some((p) => anyRow(pages(p), p))
      return {records, cursor: more ? encodeCursor(keyHash(last.key), last.key) : undefined, bytes}
    }
    // Only the first part read can hold the cursor; the rest start at their beginning.
    const page = scanPage(pages(part), part, i === 0 ? after : undefined, Math.max(1, maxBytes - bytes))
    after = undefined
    for (const r of page.records) records.push(r)
    bytes += page.bytes
    if (page.cursor !== undefined) return {records, cursor: page.cursor, bytes}
  }
  return {records, cursor: undefined, bytes}
}

/** anyRow tells whether `part` holds a record (reads at most one row). */
function anyRow(stmts: CopyPageStatements, part: SpanPart): boolean {
  const it = stmts.from.iterate(part.lo, part.hi)
  const first = it.next()
  it.return?.()
  return first.done !== true
}
