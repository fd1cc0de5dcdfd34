import {type Worker} from 'node:worker_threads'
import {FIRST_THREAD_OWNER, type FrameSlabs} from './copyFrameSlabs.js'
import {type CopyFrame, CopyFrameError, releaseFrames} from './copyFrames.js'
import {type CopySourceAddress} from './copyPuller.js'
import {type CopyPeerSettings, type CopyReceiveData, type CopyReceiveErrorData, type CopyReceiveReply, type CopyReceiveRequest, CopyReceiveThreadError} from './copyReceiveProtocol.js'
import {NodeRequestError} from './nodeRequestError.js'
import {type StreamPace} from './streamPaces.js'
import {adoptTransferable} from './transferableBatch.js'
import {startModuleWorker} from './workerModule.js'

/** CopyReceiverOptions: `peers` returns the settings copy peer pools dial with now (read at every open, so rotated TLS reaches the thread). */
export interface CopyReceiverOptions {
  peers: () => CopyPeerSettings
  /** idleMs overrides NodeClient.copyStream's idle bound (tests). */
  idleMs?: number
  /** nice lowers the thread's priority by this much (default 0: left alone; see COPY_RECEIVE_THREAD_NICE). */
  nice?: number
  /**
   * slabs returns the node's frame slabs (StorageEngine.copyFrameSlabs), shared with the
   * thread when it starts: frames that fit are received into them (undefined: every frame in
   * a buffer of its own).
   */
  slabs?: () => FrameSlabs | undefined
}

interface OpenStream {
  /** frames posted by the thread and not yet taken (at most COPY_RECEIVE_CREDIT). */
  frames: CopyFrame[]
  /** outcome is set once the thread said the stream ended (null) or failed (the error). */
  outcome: Error | null | undefined
  /** wake resumes the consumer waiting for a frame or the outcome. */
  wake: (() => void) | undefined
}

/**
 * CopyReceiver is the main thread's side of the copy receive thread (copyReceiveWorker.ts):
 * {@link openFrames} yields a source's copy stream as whole frames, received and cut in
 * that thread, so the main thread, which serves clients, never reads the stream's bytes nor
 * pays for the garbage they make. One thread per node, started at the first copy and
 * referenced only while a stream is open; it runs any number of streams at once. If it
 * dies, every open stream fails with {@link CopyReceiveThreadError} (this node's fault,
 * not the source's) and the next open starts a new thread.
 *
 * Measured (bench:move, 512 MiB of 64 KiB values a2 → a1, 2-core VM shared with other
 * work, 3 runs each, alternating, at load 1.2-2.4): destination main-thread major GCs 3-6
 * against 21-35 receiving on the main thread, a1's CPU (every thread) 8.9-9.5 s against
 * 9.1-11.5 s, copy 95-110 MiB/s against 76-106, client p99 during the copy 61-129 ms
 * against 84-206. Lowering the thread's priority (SHARDCTL_COPY_RECEIVE_NICE=10, 2 runs
 * each) changed neither rate nor p99 beyond the noise, so it is left at normal priority.
 */
export class CopyReceiver {
  private worker: Worker | undefined
  private readonly streams = new Map<number, OpenStream>()
  private nextId = 1
  /** nextOwner is the slab tag of the next thread started (FrameSlabs.attach). */
  private nextOwner = FIRST_THREAD_OWNER
  private closed = false
  /** sent are the settings the thread has, and their generation (bumped when they change). */
  private sent: {generation: number; settings: CopyPeerSettings} | undefined

  constructor(private readonly opts: CopyReceiverOptions) {}

  /**
   * openFrames asks `source` for its copy stream of `shard` at `epoch` from `cursor` and
   * yields its frames in stream order, each batch a buffer of its own (transferable again,
   * see transferableBatch.ts) or a view of a frame slab with its `release`, which the caller
   * must call once nothing reads the batch any more (frames left untaken when the stream
   * stops are freed here). It throws what NodeClient.copyStream and FrameReader throw,
   * rebuilt with the same class and fields (NodeRequestError.fromWire): NodeRequestError
   * for a refusal or an unreachable, broken or idle source, CopyFrameError for a malformed
   * stream; CopyReceiveThreadError when the thread fails. It ends without a frame with
   * `last` when the source's response ends early (the caller tells that apart). `signal`,
   * or leaving the iteration, stops the stream in the thread.
   */
  async *openFrames(source: CopySourceAddress, shard: number, epoch: number, cursor: string | undefined, frameBytes: number, signal: AbortSignal, pace?: StreamPace): AsyncGenerator<CopyFrame> {
    if (this.closed) throw new CopyReceiveThreadError('copy receiver is closed')
    if (signal.aborted) return
    const worker = this.started()
    const id = this.nextId++
    const s: OpenStream = {frames: [], outcome: undefined, wake: undefined}
    this.streams.set(id, s)
    worker.ref()
    const onAbort = () => this.wake(s)
    signal.addEventListener('abort', onAbort)
    try {
      const peers = this.peerSettings()
      this.post({op: 'open', id, source, peersGeneration: peers.generation, peers: peers.settings, shard, epoch, cursor, frameBytes, idleMs: this.opts.idleMs, pace})
      for (;;) {
        while (s.frames.length === 0 && s.outcome === undefined && !signal.aborted) await new Promise<void>((r) => (s.wake = r))
        if (signal.aborted) return
        const frame = s.frames.shift()
        if (frame) {
          // Taken: the thread may read on and post another of this stream's frames.
          this.post({op: 'credit', id})
          yield frame
          continue
        }
        if (s.outcome) throw s.outcome
        return
      }
    } finally {
      signal.removeEventListener('abort', onAbort)
      releaseFrames(s.frames.splice(0))
      if (this.streams.delete(id)) {
        if (s.outcome === undefined) this.post({op: 'close', id})
        if (this.streams.size === 0) this.worker?.unref()
      }
    }
  }

  /** openStreams is how many streams are open (for tests and metrics). */
  openStreams(): number {
    return this.streams.size
  }

  /** close stops the thread; open streams fail with CopyReceiveThreadError. Idempotent. */
  async close(): Promise<void> {
    this.closed = true
    const w = this.worker
    this.worker = undefined
    this.failAll(new CopyReceiveThreadError('copy receiver is closed'))
    if (w) await w.terminate()
  }

  /**
   * peerSettings are the settings to open a stream with: with the settings themselves only
   * when they changed since the thread last got them (a new generation: it drains its old pools).
   */
  private peerSettings(): {generation: number; settings?: CopyPeerSettings} {
    const now = this.opts.peers()
    const prev = this.sent?.settings
    if (this.sent && prev && prev.token === now.token && prev.timeoutMs === now.timeoutMs && prev.tls === now.tls) return {generation: this.sent.generation}
    this.sent = {generation: (this.sent?.generation ?? 0) + 1, settings: now}
    return this.sent
  }

  private post(msg: CopyReceiveRequest): void {
    this.worker?.postMessage(msg)
  }

  private started(): Worker {
    if (this.worker) return this.worker
    const slabs = this.opts.slabs?.()
    const owner = this.nextOwner++
    const worker = startModuleWorker(import.meta.url, 'copyReceiveWorker', {nice: this.opts.nice ?? 0, ...(slabs ? {slabs: slabs.shared, slabOwner: owner} : {})} satisfies CopyReceiveData)
    worker.unref()
    // A new thread has no settings yet: the next open sends them.
    this.sent = undefined
    worker.on('message', (reply: CopyReceiveReply) => this.answer(slabs, owner, reply))
    worker.on('error', (err) => this.lost(worker, new CopyReceiveThreadError(`copy receive thread failed: ${err.message}`, {cause: err})))
    worker.once('exit', (code) => {
      this.lost(worker, new CopyReceiveThreadError(`copy receive thread exited (code ${code})`))
      // The slabs it was filling, or held for frames it had no credit to post, would stay taken
      // for the node's life (until session 39: each a slab fewer for every later copy); it no
      // longer writes them. One it posted and is not delivered yet is dropped on arrival (answer).
      slabs?.freeOwnedBy(owner)
    })
    this.worker = worker
    return worker
  }

  private answer(slabs: FrameSlabs | undefined, owner: number, reply: CopyReceiveReply): void {
    const s = this.streams.get(reply.id)
    if (reply.type === 'frame' && 'slab' in reply && !slabs?.adopt(reply.slab, owner)) {
      // Freed at the thread's exit (this message came after it): the slab may hold another frame by now.
      if (s && s.outcome === undefined) {
        s.outcome = new CopyReceiveThreadError(`copy receive thread exited before its frame in slab ${reply.slab} was taken`)
        this.wake(s)
      }
      return
    }
    // A frame in a slab is this thread's to free from here on, taken or not.
    const release = reply.type === 'frame' && 'slab' in reply ? slabs?.releaser(reply.slab) : undefined
    if (!s || s.outcome !== undefined) return release?.()
    if (reply.type === 'frame') {
      const floors = reply.gcFloors ? {gcFloors: reply.gcFloors} : {}
      if ('slab' in reply) {
        // Received into a slab: the puller hands its slab index on to the writer thread, and frees it once that committed.
        s.frames.push({batch: slabs!.view(reply.slab, reply.length), slab: reply.slab, release, cursor: reply.cursor, last: reply.last, ...floors})
      } else {
        const b = reply.batch
        // Moved here whole: the puller hands it on to the writer thread without a copy, as a frame cut on this thread.
        s.frames.push({batch: adoptTransferable(Buffer.from(b.buffer, b.byteOffset, b.byteLength)), cursor: reply.cursor, last: reply.last, ...floors})
      }
    } else s.outcome = reply.type === 'end' ? null : rebuild(reply.error)
    this.wake(s)
  }

  private wake(s: OpenStream): void {
    const w = s.wake
    s.wake = undefined
    w?.()
  }

  private lost(worker: Worker, err: Error): void {
    if (this.worker !== worker) return
    this.worker = undefined
    this.failAll(err)
  }

  private failAll(err: Error): void {
    for (const s of this.streams.values()) {
      if (s.outcome !== undefined) continue
      s.outcome = err
      this.wake(s)
    }
  }
}

/** rebuild makes the error the thread reported into the class the puller and the executor tell apart, with its fields. */
function rebuild(e: CopyReceiveErrorData): Error {
  if (e.kind === 'node-request') return NodeRequestError.fromWire(e.error)
  if (e.name === 'CopyFrameError') return e.code ? Object.assign(new CopyFrameError(e.message), {code: e.code}) : new CopyFrameError(e.message)
  const err = new Error(e.message)
  err.name = e.name
  return e.code ? Object.assign(err, {code: e.code}) : err
}
