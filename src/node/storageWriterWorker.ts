/**
 * The storage writer thread: owns the node database's only writing connection
 * (storageWriterCore.ts) and answers the requests the main thread's StorageWriter sends,
 * one at a time, in the order they arrive. See LwwWriter (lwwSql.ts) for why one writer
 * keeps LWW and acknowledged writes safe. Started by storageWriter.ts only.
 */
import {readlinkSync} from 'node:fs'
import {parentPort, workerData} from 'node:worker_threads'
import {openWriterCore} from './storageWriterCore.js'
import {type WriterData, type WriterHello, type WriterRequest} from './storageWriterProtocol.js'
import {threadIdOf} from './threadPriority.js'

const port = parentPort
if (!port) throw new Error('storageWriterWorker must run as a worker thread')
const core = openWriterCore(workerData as WriterData)
port.postMessage(hello())

port.on('message', (req: WriterRequest) => {
  port.postMessage(core(req))
  if (req.op === 'close') port.close()
})

/** hello names this thread's kernel id for the main thread (see WriterHello). */
function hello(): WriterHello {
  try {
    const link = readlinkSync('/proc/thread-self')
    const thread = threadIdOf(link)
    return thread === undefined ? {thread, reason: `unexpected /proc/thread-self target ${JSON.stringify(link)}`} : {thread}
  } catch (err) {
    return {thread: undefined, reason: `no /proc/thread-self (${(err as Error).message})`}
  }
}
