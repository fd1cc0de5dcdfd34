/**
 * The storage writer thread: owns the node database's only writing connection
 * (storageWriterCore.ts) and answers the requests the main thread's StorageWriter sends,
 * one at a time, in the order they arrive. See LwwWriter (lwwSql.ts) for why one writer
 * keeps LWW and acknowledged writes safe. Started by storageWriter.ts only.
 */
import {parentPort, workerData} from 'node:worker_threads'
import {openWriterCore} from './storageWriterCore.js'
import {type WriterData, type WriterRequest} from './storageWriterProtocol.js'

const port = parentPort
if (!port) throw new Error('storageWriterWorker must run as a worker thread')
const core = openWriterCore(workerData as WriterData)

port.on('message', (req: WriterRequest) => {
  port.postMessage(core(req))
  if (req.op === 'close') port.close()
})
