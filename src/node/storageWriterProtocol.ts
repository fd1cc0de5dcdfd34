import {type HashRange} from '../model/range.js'
import {type GcFloor} from './lwwSql.js'

/** WriterData is what the storage writer thread is started with. */
export interface WriterData {
  file: string
  synchronous: 'FULL' | 'NORMAL'
  pageSize: number
  /**
   * autocheckpointPages is the writer connection's wal_autocheckpoint (default SQLite's
   * 1000 pages). A node whose copy reader thread checkpoints in the background raises it
   * to a backstop (see StorageEngine), so its commits rarely wait on a checkpoint.
   */
  autocheckpointPages?: number
}

/** WriterOp is one request to the writer thread, without its id (see LwwWriter for each operation's contract). */
export type WriterOp =
  | {op: 'apply'; calls: {batch: Uint8Array; clientWrite: boolean}[]}
  /**
   * A copy op yields to client applies in the writer thread: once its transaction ran
   * {@link COPY_YIELD_AFTER_MS} with an apply waiting behind it, the records so far commit
   * (the stored resume state stays the one before the frame: only the transaction that
   * takes the frame's last record stores `state`), a {@link WriterPartial} reports their
   * cells, the waiting applies run and are answered, and the frame goes on in a new
   * transaction (LwwWriter.applyCopy, storageWriterWorker.ts).
   */
  | {op: 'copy'; batch: Uint8Array; name: string; state: string; durable: boolean}
  | {op: 'purge'; range: HashRange; before: number; limit: number}
  | {op: 'deleteSlice'; range: HashRange; from: number; sliceMs: number}
  | {op: 'rangeRowIds'; range: HashRange; from: number; maxRows: number}
  | {op: 'deleteRows'; range: HashRange; ids: Float64Array; sliceMs: number; minIds: number}
  | {op: 'meta'; name: string; value: string | null}
  | {op: 'floors'; floors: GcFloor[]}
  | {op: 'close'}

/**
 * COPY_YIELD_AFTER_MS: a copy op (see WriterOp `copy`) lets waiting client applies
 * go first once its current transaction ran this long: a client write waits behind at most
 * about this much of a copy instead of a whole frame's transaction, and a copy under a
 * steady client load still commits in pieces of at least this long.
 */
export const COPY_YIELD_AFTER_MS = 5

/** WriterRequest is a {@link WriterOp} with the id its reply carries. */
export type WriterRequest = WriterOp & {id: number}

/**
 * WriterReply answers one request: its result and the digest cells it changed, or the
 * error it threw. A failed request's `changes` are the cells of transactions it committed
 * before the one that failed (a range drop commits one per fine bucket); usually empty.
 */
export type WriterReply =
  | {id: number; ok: true; result: unknown; changes: Float64Array; seconds: number}
  | WriterPartial
  | {id: number; ok: false; error: {name: string; message: string; code: string | undefined}; changes: Float64Array}

/**
 * WriterPartial reports, before the request's reply, the cells of a transaction a copy op
 * (request `id`) committed before it let client applies run: the main thread's
 * digest cache takes cell contents in commit order, so these must reach it before the
 * applies' replies (which carry later contents of the same cells) do.
 */
export interface WriterPartial {
  id: number
  partial: true
  changes: Float64Array
}
