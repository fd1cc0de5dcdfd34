/**
 * The copy receive thread: reads the copy streams a destination pulls (the HTTP request to
 * the source through undici, the body's chunks, FrameReader cutting them into frames) and
 * posts each whole frame to the main thread, its batch transferred. Every byte received
 * costs about three new buffers on the thread that reads it (the socket read, undici's copy
 * out of its parser, the frame), and V8 runs a major GC per about 64 MiB of new
 * ArrayBuffer memory: here those GCs mark this thread's small heap instead of the main
 * thread's, which serves clients. Started by copyReceiver.ts only.
 */
import {parentPort, workerData} from 'node:worker_threads'
import {FrameSlabs} from './copyFrameSlabs.js'
import {type CopyFrame, FrameReader, releaseFrames} from './copyFrames.js'
import {type GcFloor} from './lwwSql.js'
import {NodeClients} from './nodeClients.js'
import {NodeRequestError} from './nodeRequestError.js'
import {COPY_RECEIVE_CREDIT, type CopyPeerSettings, type CopyReceiveData, type CopyReceiveErrorData, type CopyReceiveOpen, type CopyReceiveReply, type CopyReceiveRequest} from './copyReceiveProtocol.js'
import {lowerThisThreadPriority} from './threadPriority.js'

const port = parentPort
if (!port) throw new Error('copyReceiveWorker must run as a worker thread')
const out = port
// Where the OS does not allow it the thread runs at normal priority (correct, only harder on clients).
const nice = (workerData as CopyReceiveData | undefined)?.nice ?? 0
if (nice > 0) lowerThisThreadPriority(nice)
/** slabs are the node's frame slabs (copyFrameSlabs.ts), shared once at the thread's start; absent: every frame in a buffer of its own. */
const shared = (workerData as CopyReceiveData | undefined)?.slabs
const slabs = shared ? FrameSlabs.attach(shared, (workerData as CopyReceiveData).slabOwner) : undefined

interface Stream {
  abort: AbortController
  /** credit is how many more frames may be posted before the main thread takes one. */
  credit: number
  /** wake resumes the stream waiting for credit (or for its close). */
  wake: (() => void) | undefined
}

const streams = new Map<number, Stream>()
let peers: {generation: number; clients: NodeClients} | undefined

port.on('message', (req: CopyReceiveRequest) => {
  if (req.op === 'open') return void receive(req)
  const s = streams.get(req.id)
  if (!s) return
  if (req.op === 'credit') s.credit++
  else {
    streams.delete(req.id)
    s.abort.abort()
  }
  const wake = s.wake
  s.wake = undefined
  wake?.()
})

/** clientsFor returns the pools of the settings generation `req` names, replacing (draining) those of an older one. */
function clientsFor(req: CopyReceiveOpen): NodeClients {
  if (!peers || peers.generation !== req.peersGeneration) {
    if (!req.peers) throw new Error(`copy receive thread: no peer settings of generation ${req.peersGeneration}`)
    void peers?.clients.close()
    peers = {generation: req.peersGeneration, clients: new NodeClients(settings(req.peers))}
  }
  return peers.clients
}

/** settings rebuilds the TLS material's Buffers (a Buffer crosses threads as a plain Uint8Array). */
function settings(p: CopyPeerSettings): CopyPeerSettings {
  const buf = (b: Uint8Array | undefined) => (b ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : undefined)
  return {token: p.token, timeoutMs: p.timeoutMs, tls: p.tls ? {ca: buf(p.tls.ca)!, cert: buf(p.tls.cert), key: buf(p.tls.key), paths: p.tls.paths} : undefined}
}

async function receive(req: CopyReceiveOpen): Promise<void> {
  const s: Stream = {abort: new AbortController(), credit: COPY_RECEIVE_CREDIT, wake: undefined}
  streams.set(req.id, s)
  const open = () => streams.get(req.id) === s
  let reader: FrameReader | undefined
  try {
    const client = clientsFor(req).client({id: req.source.node, address: req.source.address})
    reader = new FrameReader(slabs)
    // The source's gc floors ride on the stream's first frame (CopyFrame.gcFloors).
    let floors: GcFloor[] | undefined
    let first = true
    const onGcFloors = (f: GcFloor[] | undefined) => void (floors = f)
    for await (const chunk of client.copyStream(req.shard, req.epoch, {cursor: req.cursor, frameBytes: req.frameBytes, signal: s.abort.signal, idleMs: req.idleMs, pace: req.pace, onGcFloors})) {
      // The next chunk is read only once every frame of this one is posted: while the main
      // thread holds its credit's worth, the socket is left unread and the source waits.
      const frames = reader.push(chunk)
      for (let i = 0; i < frames.length; i++) {
        while (s.credit === 0 && open()) await new Promise<void>((r) => (s.wake = r))
        if (!open()) {
          // Never posted: nobody else will free their slabs.
          releaseFrames(frames.slice(i))
          return
        }
        s.credit--
        post(req.id, first && floors ? {...frames[i]!, gcFloors: floors} : frames[i]!)
        first = false
      }
    }
    if (open()) out.postMessage({id: req.id, type: 'end'} satisfies CopyReceiveReply)
  } catch (err) {
    if (open()) out.postMessage({id: req.id, type: 'error', error: errorData(err)} satisfies CopyReceiveReply)
  } finally {
    // A frame half received when the stream stopped or broke will never be posted.
    reader?.dispose()
    if (open()) streams.delete(req.id)
  }
}

/**
 * post sends `frame`: a batch in a frame slab as the slab's index (the main thread frees the
 * slab from then on), any other moving its batch's memory (a buffer of its own from
 * FrameReader) instead of copying it.
 */
function post(id: number, frame: CopyFrame): void {
  if (frame.slab !== undefined) {
    out.postMessage({id, type: 'frame', slab: frame.slab, length: frame.batch.length, cursor: frame.cursor, last: frame.last, ...(frame.gcFloors ? {gcFloors: frame.gcFloors} : {})} satisfies CopyReceiveReply)
    return
  }
  const b = frame.batch
  const own = b.byteOffset === 0 && b.buffer.byteLength === b.length && b.length > 0
  const reply: CopyReceiveReply = {id, type: 'frame', batch: b, cursor: frame.cursor, last: frame.last, ...(frame.gcFloors ? {gcFloors: frame.gcFloors} : {})}
  out.postMessage(reply, own ? [b.buffer as ArrayBuffer] : [])
}

/** errorData keeps what the puller and the executor read of an error: a NodeRequestError whole, of any other its class name, message and code. */
function errorData(err: unknown): CopyReceiveErrorData {
  if (err instanceof NodeRequestError) return {kind: 'node-request', error: err.toWire()}
  const e = err as {name?: unknown; message?: unknown; code?: unknown}
  return {
    kind: 'other',
    name: typeof e.name === 'string' ? e.name : 'Error',
    message: typeof e.message === 'string' ? e.message : String(err),
    code: typeof e.code === 'string' ? e.code : undefined,
  }
}
