/**
 * The copy reader thread: reads copy stream pages (copyPageReader.ts) on its own read-only
 * connection, so the range scan and the batch encoding of a shard copy never hold the
 * node's event loop, where client requests are served. Started by copyReader.ts only.
 */
import {parentPort, workerData} from 'node:worker_threads'
import {prepareCopyPageStatements, readCopyPage} from './copyPageReader.js'
import {type CheckpointReply, type CheckpointRequest, type CopyReadReply, type CopyReaderData, type CopyReadRequest} from './copyReaderProtocol.js'
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

port.on('message', (req: CopyReadRequest | CheckpointRequest) => {
  let reply: CopyReadReply
  try {
    if (req.op === 'checkpoint') {
      // PASSIVE: copies what it can without waiting for (or blocking) the writer or readers;
      // at synchronous NORMAL it fsyncs the WAL before and the database file after.
      const done: CheckpointReply = {id: req.id, ok: true, checkpoint: passiveCheckpoint(db)}
      port.postMessage(done)
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
