import type Database from 'better-sqlite3'
import {type HashRange} from '../model/range.js'
import {type NodeRecord} from './protocol.js'
import {encodeRecords} from './recordCodec.js'
import {decodeCursor, encodeCursor} from './snapshotCursor.js'

/**
 * CopyPage is one page of a copy stream: its records as one encoded batch (recordCodec.ts),
 * how many, and the cursor resuming after it (undefined: the range is exhausted).
 * `release`, when present, says the batch lives in a slab shared with the copy reader
 * thread (copyPageSlabs.ts): whoever holds the page calls it once nothing will read the
 * batch's bytes again (after its socket write completed, or the page was dropped), and the
 * slab then takes a later page. Not calling it only costs the slab.
 */
export interface CopyPage {
  batch: Buffer
  records: number
  cursor: string | undefined
  release?: () => void
}

type RawRow = [h: number, k: Buffer, ver: string, v: Buffer | null]

/** CopyPageStatements are the prepared range scans {@link readCopyPage} runs, on whichever connection prepared them. */
export interface CopyPageStatements {
  from: Database.Statement<[number, number], RawRow>
  after: Database.Statement<[number, Buffer, number], RawRow>
}

/** prepareCopyPageStatements prepares {@link readCopyPage}'s scans on `db` (raw array rows: no per-row object with named fields). */
export function prepareCopyPageStatements(db: Database.Database): CopyPageStatements {
  return {
    from: db.prepare<[number, number], RawRow>('SELECT h, k, ver, v FROM kv WHERE h >= ? AND h < ? ORDER BY h, k').raw(true),
    after: db.prepare<[number, Buffer, number], RawRow>('SELECT h, k, ver, v FROM kv WHERE (h, k) > (?, ?) AND h < ? ORDER BY h, k').raw(true),
  }
}

/** ScanPage is one page of a range scan and the cursor resuming after it (undefined: exhausted). */
export interface ScanPage {
  records: NodeRecord[]
  cursor: string | undefined
  bytes: number
}

/**
 * scanPage reads the records of `range` in (hash, key) order after `cursor` (undefined: from
 * the range's start) until about `maxBytes` of keys, versions and values are collected (at
 * least one record). The page is one read of one snapshot (a single statement); records
 * committed after it are in a later page or not at all, which a copy beside dual writes
 * allows (LWW). Throws RangeError for a malformed cursor or one outside `range`.
 */
export function scanPage(stmts: CopyPageStatements, range: HashRange, cursor: string | undefined, maxBytes: number): ScanPage {
  let it: IterableIterator<RawRow>
  if (cursor === undefined) it = stmts.from.iterate(range.lo, range.hi)
  else {
    const c = decodeCursor(cursor)
    if (c.hash < range.lo || c.hash >= range.hi) throw new RangeError(`cursor at hash ${c.hash} is outside [${range.lo}, ${range.hi})`)
    it = stmts.after.iterate(c.hash, c.key, range.hi)
  }
  const records: NodeRecord[] = []
  let bytes = 0
  let lastHash = 0
  let lastKey: Buffer | undefined
  let more = false
  for (const [h, k, ver, v] of it) {
    if (bytes >= maxBytes && records.length > 0) {
      more = true
      break
    }
    records.push({key: k, version: ver, value: v})
    bytes += k.length + ver.length + (v?.length ?? 0) + 8
    lastHash = h
    lastKey = k
  }
  if (more) it.return?.()
  return {records, cursor: more && lastKey ? encodeCursor(lastHash, lastKey) : undefined, bytes}
}

/** readCopyPage is {@link scanPage} with the records encoded as one batch (recordCodec.ts), as a copy stream sends them, into a buffer from `alloc`. */
export function readCopyPage(stmts: CopyPageStatements, range: HashRange, cursor: string | undefined, maxBytes: number, alloc?: (size: number) => Buffer): CopyPage {
  return copyPageOf(scanPage(stmts, range, cursor, maxBytes), alloc)
}

/** copyPageOf is scan page `page` as a copy stream sends it: its records encoded as one batch (recordCodec.ts) into a buffer from `alloc`. */
export function copyPageOf(page: ScanPage, alloc?: (size: number) => Buffer): CopyPage {
  return {batch: encodeRecords(page.records, alloc), records: page.records.length, cursor: page.cursor}
}
