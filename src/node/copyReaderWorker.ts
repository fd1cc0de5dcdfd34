/**
 * The copy reader thread: reads copy stream pages (copyPageReader.ts) and digest bucket
 * listings (bucketListing.ts) on its own read-only connection, so the range scans and the
 * batch encoding of a shard copy or of a verify's or repair's listing never hold the node's
 * event loop, where client requests are served. Started by copyReader.ts only.
 */
import {parentPort, workerData} from 'node:worker_threads'
import {readBucketListing} from './bucketListing.js'
import {prepareCopyPageStatements, readCopyPage} from './copyPageReader.js'
import {
  type BucketListReply,
  type BucketListRequest,
  type CheckpointReply,
  type CheckpointRequest,
  type CopyReadReply,
  type CopyReaderData,
  type CopyReadRequest,
} from './copyReaderProtocol.js'
import {openConnection, passiveCheckpoint} from './lwwSql.js'
import {COPY_THREAD_NICE, lowerThisThreadPriority} from './threadPriority.js'

const port = parentPort
if (!port) throw new Error('copyReaderWorker must run as a worker thread')
const data = workerData as CopyReaderData
// This thread only serves copies: when cores are short, the threads serving clients go first.
// Where the OS does not allow it the copy runs at normal priority (correct, only harder on clients).
lowerThisThreadPriority(COPY_THREAD_NICE)
// A reader: it never writes, so the synchronous level is moot; WAL lets it read beside the writer thread.
const db = openConnection(data.file, 'NORMAL', data.pageSize)
const stmts = prepareCopyPageStatements(db)

port.on('message', (req: CopyReadRequest | CheckpointRequest | BucketListRequest) => {
  let reply: CopyReadReply
  try {
    if (req.op === 'checkpoint') {
      // PASSIVE: copies what it can without waiting for (or blocking) the writer or readers;
      // at synchronous NORMAL it fsyncs the WAL before and the database file after.
      const done: CheckpointReply = {id: req.id, ok: true, checkpoint: passiveCheckpoint(db)}
      port.postMessage(done)
      return
    }
    if (req.op === 'buckets') {
      // Allocated unpooled (an ArrayBuffer of its own), so it is transferred, never copied.
      const listing = readBucketListing(db, stmts.from, req.range, req.buckets, req.maxBytes, Buffer.allocUnsafeSlow)
      const done: BucketListReply = {id: req.id, ok: true, listing}
      port.postMessage(done, [listing.batch.buffer as ArrayBuffer])
      return
    }
    const page = readCopyPage(stmts, req.range, req.cursor, req.maxBytes)
    reply = {id: req.id, ok: true, batch: page.batch, records: page.records, cursor: page.cursor}
    // Transfer (no copy) only a buffer that owns its whole ArrayBuffer: small ones share Node's pool.
    const own = page.batch.byteOffset === 0 && page.batch.buffer.byteLength === page.batch.length
    port.postMessage(reply, own ? [page.batch.buffer as ArrayBuffer] : [])
  } catch (err) {
    const e = err as {name?: string; message?: string}
    reply = {id: req.id, ok: false, error: {name: e.name ?? 'Error', message: e.message ?? String(err)}}
    port.postMessage(reply)
  }
})
