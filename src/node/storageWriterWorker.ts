/**
 * The storage writer thread: owns the node database's only writing connection
 * (storageWriterCore.ts) and answers the requests the main thread's StorageWriter sends,
 * one at a time, in the order they arrive, except that a copy frame's commit lets client
 * applies that arrived behind it go first (see {@link copyYield}). See LwwWriter
 * (lwwSql.ts) for why one writer keeps LWW and acknowledged writes safe. Started by
 * storageWriter.ts only.
 */
import {parentPort, receiveMessageOnPort, type MessagePort, workerData} from 'node:worker_threads'
import {type CopyYield} from './lwwSql.js'
import {openWriterCore} from './storageWriterCore.js'
import {COPY_YIELD_AFTER_MS, type WriterData, type WriterPartial, type WriterRequest} from './storageWriterProtocol.js'

const port = parentPort
if (!port) throw new Error('storageWriterWorker must run as a worker thread')
const core = openWriterCore(workerData as WriterData)

port.on('message', (req: WriterRequest) => handle(port, req))

/** handle answers `req`, then the requests a copy took off the port and did not run, in their order. */
function handle(port: MessagePort, req: WriterRequest): void {
  const taken: WriterRequest[] = []
  port.postMessage(core(req, req.op === 'copy' ? copyYield(port, req.id, taken) : undefined))
  if (req.op === 'close') {
    port.close()
    return
  }
  for (const next of taken.splice(0)) handle(port, next)
}

/**
 * copyYield is what lets copy request `id` give way: `waiting` takes the requests queued on
 * the port behind it (receiveMessageOnPort, without leaving the copy's turn) into `taken`
 * and says whether applies are among them; `yielded` reports the cells the copy committed
 * so far (before anything the applies change) and runs and answers those applies.
 * Taking stops at the first request that is not an apply, so nothing queued after a
 * non-apply runs before it: LWW makes applies and copy records commute, nothing else is
 * let past. Whatever is taken and not run is answered after the copy, in order (handle).
 */
function copyYield(port: MessagePort, id: number, taken: WriterRequest[]): CopyYield {
  let blocked = false
  const applies = () => {
    let n = 0
    while (n < taken.length && taken[n]!.op === 'apply') n++
    return n
  }
  return {
    afterMs: COPY_YIELD_AFTER_MS,
    waiting() {
      while (!blocked) {
        const got = receiveMessageOnPort(port)
        if (!got) break
        const next = got.message as WriterRequest
        taken.push(next)
        if (next.op !== 'apply') blocked = true
      }
      return applies() > 0
    },
    yielded(changes) {
      const partial: WriterPartial = {id, partial: true, changes}
      port.postMessage(partial)
      for (const next of taken.splice(0, applies())) port.postMessage(core(next))
    },
  }
}
