import {type HashRange} from '../model/range.js'
import {type GcFloor} from './lwwSql.js'
import {type StoreChanges} from './storeWriters.js'

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
  /**
   * busyTimeoutMs is how long the writer connection waits for a write lock another
   * connection holds before the transaction fails (default BUSY_TIMEOUT_MS, 5 s).
   */
  busyTimeoutMs?: number
}

/** WriterOp is one request to the writer thread, without its id (see LwwWriter for each operation's contract). */
export type WriterOp =
  | {op: 'apply'; calls: {batch: Uint8Array; clientWrite: boolean}[]}
  /** A copy frame's records: `batch` their encoding, or a {@link SlabBatch} in the frame slabs shared before (op `slabs`). */
  | {op: 'copy'; batch: Uint8Array | SlabBatch; name: string; state: string; durable: boolean}
  /** Shares the node's frame slabs (copyFrameSlabs.ts) with the writer, once, before any copy op names one. */
  | {op: 'slabs'; slabs: SharedArrayBuffer[]}
  | {op: 'purge'; range: HashRange; before: number; limit: number}
  | {op: 'deleteSlice'; range: HashRange; from: number; sliceMs: number}
  /** Lists row ids of `range` in store `store` (absent: the main file): `range` is one part the engine's span table gives that store. */
  | {op: 'rangeRowIds'; range: HashRange; from: number; maxRows: number; store?: string}
  /** Deletes rows by the ids a rangeRowIds of the same `store` and `range` listed. */
  | {op: 'deleteRows'; range: HashRange; ids: Float64Array; sliceMs: number; minIds: number; store?: string}
  | {op: 'meta'; name: string; value: string | null; durable?: boolean}
  /** Gives up to `pages` free pages of the database file back to the file system (LwwWriter.returnFreePages). */
  | {op: 'returnFreePages'; pages: number}
  /** A PASSIVE WAL checkpoint on the writing connection: copies the frames left once background checkpoints did the bulk, so the next commit restarts the WAL (StorageEngine.walRoom). */
  | {op: 'checkpoint'}
  /** Replaces every gc floor; with `dropValuesBelow`, also deletes the values (never tombstones) older than each of those floors in its range, in the same transaction (StorageEngine.adoptFloors). */
  | {op: 'floors'; floors: GcFloor[]; dropValuesBelow?: GcFloor[]}
  /** Writes nothing: answered once every request queued before it was (StorageEngine.writesQueuedBefore). */
  | {op: 'barrier'}
  | {op: 'close'}

/** SlabBatch is a record batch lying in the first `length` bytes of frame slab `slab`; the sender keeps the slab until the op is answered. */
export interface SlabBatch {
  slab: number
  length: number
}

/** WriterRequest is a {@link WriterOp} with the id its reply carries. */
export type WriterRequest = WriterOp & {id: number}

/**
 * WriterReply answers one request: its result and the digest cells it changed, or the
 * error it threw. A failed request's `changes` are the cells of transactions it committed
 * before the one that failed (a range drop commits one per fine bucket); usually empty.
 * `changes` are the main file's cells; `stores` (present only when some were changed) each
 * range store's, which the main thread's cache of that store takes.
 */
export type WriterReply =
  | {id: number; ok: true; result: unknown; changes: Float64Array; seconds: number; stores?: StoreChanges[]}
  | {id: number; ok: false; error: {name: string; message: string; code: string | undefined}; changes: Float64Array; stores?: StoreChanges[]}
