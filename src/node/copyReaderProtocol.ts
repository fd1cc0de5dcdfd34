import {type HashRange} from '../model/range.js'

/** CopyReaderData is what the copy reader thread is started with: the database file it reads. */
export interface CopyReaderData {
  file: string
  pageSize: number
}

/** CopyReadRequest asks the copy reader thread for one page (see readCopyPage). */
export interface CopyReadRequest {
  id: number
  range: HashRange
  cursor: string | undefined
  maxBytes: number
}

/** CopyReadReply answers one {@link CopyReadRequest}: the page's encoded batch (transferred when it owns its memory), or the error. */
export type CopyReadReply =
  | {id: number; ok: true; batch: Uint8Array; records: number; cursor: string | undefined}
  | {id: number; ok: false; error: {name: string; message: string}}
