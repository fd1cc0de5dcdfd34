import {type HashRange} from '../model/range.js'

/**
 * CopyReaderData is what the copy reader thread is started with: the main database file it
 * reads, and the data dir and its id, to open and check the range stores the file's table names.
 */
export interface CopyReaderData {
  file: string
  pageSize: number
  dataDir: string
  dataDirId: string
}

/** SlabsMessage shares the slabs pages are written into (copyPageSlabs.ts) with the thread: sent once, before its first read into one; no answer. */
export interface SlabsMessage {
  op: 'slabs'
  slabs: SharedArrayBuffer[]
}

/** CopyReadRequest asks the copy reader thread for one page (see readCopyPage). */
export interface CopyReadRequest {
  id: number
  op?: 'read'
  range: HashRange
  cursor: string | undefined
  maxBytes: number
  /** slab is the index of the slab lent for this read: the page is written there when it fits. */
  slab?: number
}

/** CheckpointRequest asks the copy reader thread for a PASSIVE WAL checkpoint on its connection (see CopyReader.checkpoint). */
export interface CheckpointRequest {
  id: number
  op: 'checkpoint'
}

/** BucketListRequest asks the copy reader thread for a bucket listing (see readBucketListing). */
export interface BucketListRequest {
  id: number
  op: 'buckets'
  range: HashRange
  buckets: number[]
  maxBytes: number | undefined
}

/** BucketListReply answers a {@link BucketListRequest}: the listing's batch (transferred: it owns its memory) and how many buckets it answered. */
export interface BucketListReply {
  id: number
  ok: true
  listing: {batch: Uint8Array; records: number; answered: number}
}

/** CheckpointReply answers a {@link CheckpointRequest}: the WAL's frames and how many of them are now in the database file. */
export interface CheckpointReply {
  id: number
  ok: true
  checkpoint: {log: number; checkpointed: number}
}

/**
 * CopyReadReply answers one {@link CopyReadRequest}: the page's encoded batch, either in
 * the lent slab (`inSlab`: its length there) or as `batch` (transferred: it owns its
 * memory), or the error.
 */
export type CopyReadReply =
  | {id: number; ok: true; batch?: Uint8Array; inSlab?: number; records: number; cursor: string | undefined}
  | {id: number; ok: false; error: {name: string; message: string}}
