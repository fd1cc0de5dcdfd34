/**
 * The copy reader thread: reads copy stream pages (copyPageReader.ts) and digest bucket
 * listings (bucketListing.ts) on its own read-only connections, to the main file and to the
 * range stores its table names (copyReaderStores.ts: each read routes by the table of its
 * main-file snapshot), so the range scans and the batch encoding of a shard copy or of a
 * verify's or repair's listing never hold the node's event loop, where client requests are
 * served. Started by copyReader.ts only.
 */
import {parentPort, workerData} from 'node:worker_threads'
import {readBucketListing} from './bucketListing.js'
import {copyPageOf} from './copyPageReader.js'
import {
  type BucketListReply,
  type BucketListRequest,
  type CheckpointReply,
  type CheckpointRequest,
  type CopyReadReply,
  type CopyReaderData,
  type CopyReadRequest,
  type SlabsMessage,
} from './copyReaderProtocol.js'
import {slabAllocator} from './copyPageSlabs.js'
import {CopyReaderStores} from './copyReaderStores.js'
import {passiveCheckpoint} from './lwwSql.js'
import {rowsAcross, scanStores} from './spanScan.js'
import {COPY_THREAD_NICE, lowerThisThreadPriority} from './threadPriority.js'

const port = parentPort
if (!port) throw new Error('copyReaderWorker must run as a worker thread')
const data = workerData as CopyReaderData
// This thread only serves copies: when cores are short, the threads serving clients go first.
// Where the OS does not allow it the copy runs at normal priority (correct, only harder on clients).
lowerThisThreadPriority(COPY_THREAD_NICE)
// The main file and the range stores its table names, followed snapshot by snapshot (copyReaderStores.ts).
const stores = new CopyReaderStores(data)

/** slabs are the main thread's page slabs, once it shared them (SlabsMessage). */
let slabs: SharedArrayBuffer[] | undefined

port.on('message', (req: CopyReadRequest | CheckpointRequest | BucketListRequest | SlabsMessage) => {
  if (req.op === 'slabs') {
    slabs = req.slabs
    return
  }
  let reply: CopyReadReply
  try {
    if (req.op === 'checkpoint') {
      // PASSIVE: copies what it can without waiting for (or blocking) the writer or readers;
      // at synchronous NORMAL it fsyncs the WAL before and the database file after.
      const done: CheckpointReply = {id: req.id, ok: true, checkpoint: passiveCheckpoint(stores.main)}
      port.postMessage(done)
      return
    }
    if (req.op === 'buckets') {
      // Allocated unpooled (an ArrayBuffer of its own), so it is transferred, never copied.
      const listing = stores.read((table, pages) => readBucketListing(stores.main, {iterate: (lo, hi) => rowsAcross(table, pages, {lo, hi})}, req.range, req.buckets, req.maxBytes, Buffer.allocUnsafeSlow))
      const done: BucketListReply = {id: req.id, ok: true, listing}
      port.postMessage(done, [listing.batch.buffer as ArrayBuffer])
      return
    }
    // Into the lent slab when the page fits (the main thread gets an index, not a new buffer), else a buffer of its own, transferred.
    const into = slabAllocator(req.slab === undefined ? undefined : slabs?.[req.slab])
    const page = copyPageOf(stores.read((table, pages) => scanStores(table, pages, req.range, req.cursor, req.maxBytes)), into.alloc)
    if (into.used()) {
      reply = {id: req.id, ok: true, inSlab: page.batch.length, records: page.records, cursor: page.cursor}
      port.postMessage(reply)
      return
    }
    reply = {id: req.id, ok: true, batch: page.batch, records: page.records, cursor: page.cursor}
    port.postMessage(reply, [page.batch.buffer as ArrayBuffer])
  } catch (err) {
    const e = err as {name?: string; message?: string}
    reply = {id: req.id, ok: false, error: {name: e.name ?? 'Error', message: e.message ?? String(err)}}
    port.postMessage(reply)
  }
})
