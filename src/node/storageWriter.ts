import {dirname} from 'node:path'
import {type Worker} from 'node:worker_threads'
import {keyHash} from '../model/hash.js'
import {type CellChanges} from './digestCells.js'
import {FINE_WIDTH, fineOf} from './digestLayout.js'
import {type ApplyOptions, type ApplyResult} from './lwwSql.js'
import {type NodeRecord} from './protocol.js'
import {decodeRecords, encodeRecords} from './recordCodec.js'
import {isStorageFullCode, StorageFullError} from './storageFull.js'
import {openWriterCore} from './storageWriterCore.js'
import {type StoreChanges} from './storeWriters.js'
import {type SlabBatch, type WriterData, type WriterOp, type WriterReply, type WriterRequest} from './storageWriterProtocol.js'
import {startModuleWorker} from './workerModule.js'

/** CommitKind names what a committed transaction carried: `group` (client, repair and relayed applies), `copy` (a copy frame), `purge` (tombstones, range drops). */
export type CommitKind = 'group' | 'copy' | 'purge'

/** StorageWriterOptions configures a {@link StorageWriter}. */
export interface StorageWriterOptions extends WriterData {
  /** maxTxnBytes bounds one group-commit transaction (one call is never split). */
  maxTxnBytes: number
  /** committed hears every committed transaction's cell changes (the main file's, and each range store's in `stores`) before its callers are answered. */
  committed: (changes: CellChanges, stores?: readonly StoreChanges[]) => void
  /**
   * failed hears, once, that the writer thread died or could not start (e.g. it could not
   * open the database): from then on every write rejects, so the owner should stop serving.
   * Not called for {@link StorageWriter.close}.
   */
  failed?: (err: Error) => void
  /** onCommit hears each transaction's duration (fsync included) and record count. */
  onCommit?: (kind: CommitKind, seconds: number, records: number) => void
  /**
   * storageFull hears when writes start failing for want of disk space (`err` set: the first
   * transaction that found no room) and when one that changed rows commits again (`err`
   * undefined; a transaction that changed nothing, such as an empty purge or a drop's row
   * listing, commits on a full disk too and says nothing of room): once per change, so an
   * operator's log gets one line each way instead of one per refused write.
   */
  storageFull?: (err: StorageFullError | undefined) => void
  /**
   * refuseWrites, while it says true, makes every queued apply group and copy frame reject
   * with StorageFullError instead of being sent to the thread: the engine's freeing
   * operations are using the room the node's disk reserve gave back (StorageEngine.freeing).
   * Drops, purges, meta and floors still go.
   */
  refuseWrites?: () => boolean
  /**
   * thread: true (the default, what nodes run) writes in a worker thread; false runs the
   * same writer core on this thread, answering each request on a later turn (for tests
   * that open hundreds of engines; the queue, ordering and LWW code are the same).
   */
  thread?: boolean
}

/** WriterChannel carries requests to a writer core and its replies back (a worker thread, or this thread). */
interface WriterChannel {
  /** post sends `req`, moving the `transfer` buffers (a thread) or handing them over as they are (this thread). */
  post(req: WriterRequest, transfer: ArrayBuffer[]): void
  ref(): void
  unref(): void
  terminate(): Promise<void>
}

interface QueuedApply {
  kind: 'apply'
  records: readonly NodeRecord[]
  opts: ApplyOptions
  bytes: number
  resolve: (r: ApplyResult) => void
  reject: (e: unknown) => void
}

interface QueuedOp {
  kind: 'op'
  op: WriterOp
  commitKind: CommitKind | undefined
  records: number
  /** transfer lists the op's ArrayBuffers moved to the thread (detached here once posted). */
  transfer: ArrayBuffer[]
  /** keys are a copy op's records, read for their keys when its (transferred) batch is gone. */
  keys: readonly NodeRecord[] | undefined
  resolve: (r: unknown) => void
  reject: (e: unknown) => void
}

type Queued = QueuedApply | QueuedOp

interface InFlight {
  id: number
  items: Queued[]
  commitKind: CommitKind | undefined
  records: number
}

const RECORD_OVERHEAD = 64

/**
 * StorageWriter is the main thread's side of the storage writer thread: a FIFO queue of
 * writes with exactly one request in flight to the thread. Applies queued back to back
 * are sent as one group-commit transaction (up to `maxTxnBytes`), so while one commit
 * fsyncs, the next group gathers; other operations (a copy frame, a purge, a drop slice,
 * a meta or floor change) go alone, in queue order. A caller's promise settles only after
 * the thread committed (or rolled back) its transaction and the main thread's digest
 * cache took the changes, so an acknowledged write is durable and visible to reads and
 * digests. If the thread dies, every queued and later call rejects.
 *
 * The worker is referenced (keeps the process alive) only while requests are queued, so
 * a process never exits with a write half done and never hangs on an idle writer.
 */
export class StorageWriter {
  private readonly worker: WriterChannel
  private readonly queue: Queued[] = []
  private inFlight: InFlight | undefined
  private nextId = 1
  private pumpScheduled = false
  private failure: Error | undefined
  private closing = false
  /** full is true from a transaction that failed for want of disk space until one commits. */
  private full = false
  private readonly exited: Promise<void>

  constructor(private readonly opts: StorageWriterOptions) {
    const data: WriterData = {file: opts.file, synchronous: opts.synchronous, pageSize: opts.pageSize, autocheckpointPages: opts.autocheckpointPages, busyTimeoutMs: opts.busyTimeoutMs}
    if (opts.thread === false) {
      const core = openWriterCore(data)
      this.worker = {post: (req) => setImmediate(() => this.answer(core(req))), ref: () => {}, unref: () => {}, terminate: async () => {}}
      this.exited = Promise.resolve()
      return
    }
    const worker = startWorker(data)
    worker.unref()
    worker.on('message', (reply: WriterReply) => this.answer(reply))
    worker.on('error', (err) => this.fail(err))
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()))
    worker.once('exit', (code) => this.fail(new Error(`storage writer thread exited (code ${code})`)))
    this.worker = {post: (req, transfer) => worker.postMessage(req, transfer), ref: () => worker.ref(), unref: () => worker.unref(), terminate: async () => void (await worker.terminate())}
  }

  /** apply queues a group-committed LWW merge of `records`; resolves once durable. */
  apply(records: readonly NodeRecord[], opts: ApplyOptions): Promise<ApplyResult> {
    let bytes = 0
    for (const r of records) bytes += r.key.length + (r.value?.length ?? 0) + RECORD_OVERHEAD
    return new Promise((resolve, reject) => this.enqueue({kind: 'apply', records, opts, bytes, resolve, reject}))
  }

  /**
   * run queues one operation alone in its transaction and resolves to its result once
   * committed. `moved.transfer` are ArrayBuffers of `op` moved to the thread instead of
   * copied (detached once posted); a copy op whose batch is among them must give its
   * records as `moved.keys`, which {@link inFlightCells} reads instead of the batch.
   */
  run<T>(op: WriterOp, commitKind?: CommitKind, records = 0, moved: {transfer: ArrayBuffer[]; keys?: readonly NodeRecord[]} = {transfer: []}): Promise<T> {
    // postMessage silently drops a message whose transfer list holds a detached buffer (one
    // handed over before): no error, no reply, so the request would stay in flight forever
    // and every write queued behind it would hang. No op hands over an empty buffer, so refuse it here.
    if (moved.transfer.some((b) => b.byteLength === 0)) return Promise.reject(new Error('a buffer handed to the writer thread is detached (handed over already) or empty'))
    return new Promise((resolve, reject) => this.enqueue({kind: 'op', op, commitKind, records, transfer: moved.transfer, keys: moved.keys, resolve: resolve as (r: unknown) => void, reject}))
  }

  /**
   * inFlightCells names the fine digest cells the request now in flight may change (none
   * when nothing is in flight): the cells of its records' keys, or of the hash range a
   * purge, drop or adopted floor's deletion works on. A reader that sees rows newer than the digest cache (the writer
   * committed, its reply is not handled yet) recomputes these cells from the rows.
   */
  inFlightCells(): Set<number> {
    const cells = new Set<number>()
    const addRange = (lo: number, hi: number) => {
      for (let f = fineOf(lo); f * FINE_WIDTH < hi; f++) cells.add(f)
    }
    for (const item of this.inFlight?.items ?? []) {
      if (item.kind === 'apply') {
        for (const r of item.records) cells.add(fineOf(keyHash(r.key)))
        continue
      }
      const op = item.op
      if (op.op === 'copy') for (const r of item.keys ?? copyBatchRecords(op.batch)) cells.add(fineOf(keyHash(r.key)))
      else if (op.op === 'purge') addRange(op.range.lo, op.range.hi)
      else if (op.op === 'deleteSlice') addRange(Math.max(op.range.lo, op.from * FINE_WIDTH), op.range.hi)
      else if (op.op === 'deleteRows') addRange(op.range.lo, op.range.hi)
      // Floors adopted from a copy's source may delete the values below them (StorageEngine.adoptFloors).
      else if (op.op === 'floors') for (const f of op.dropValuesBelow ?? []) addRange(f.lo, f.hi)
    }
    return cells
  }

  /** close commits everything queued, closes the writer's connection and stops the thread. Idempotent. */
  async close(): Promise<void> {
    this.closing = true
    if (!this.failure) await this.run({op: 'close'}).catch(() => undefined)
    this.failure ??= new Error('storage engine is closed')
    await this.worker.terminate()
    await this.exited
  }

  private enqueue(item: Queued): void {
    if (this.failure) {
      item.reject(this.failure)
      return
    }
    this.queue.push(item)
    this.worker.ref()
    // Wait for the turn to end, so writes arriving together share one commit.
    if (!this.pumpScheduled && !this.inFlight) {
      this.pumpScheduled = true
      setImmediate(() => this.pump())
    }
  }

  private pump(): void {
    this.pumpScheduled = false
    if (this.inFlight || this.failure) return
    const head = this.queue[0]
    if (!head) {
      this.worker.unref()
      return
    }
    if ((head.kind === 'apply' || head.op.op === 'copy') && this.opts.refuseWrites?.()) {
      this.queue.shift()
      head.reject(new StorageFullError(dirname(this.opts.file)))
      this.pump()
      return
    }
    const id = this.nextId++
    if (head.kind === 'op') {
      this.queue.shift()
      this.inFlight = {id, items: [head], commitKind: head.commitKind, records: head.records}
      this.post({...head.op, id}, head.transfer)
      return
    }
    const group: QueuedApply[] = []
    let size = 0
    for (let next = this.queue[0]; next && next.kind === 'apply' && (group.length === 0 || size + next.bytes <= this.opts.maxTxnBytes); next = this.queue[0]) {
      group.push(next)
      size += next.bytes
      this.queue.shift()
    }
    this.inFlight = {id, items: group, commitKind: 'group', records: group.reduce((n, p) => n + p.records.length, 0)}
    this.post({op: 'apply', calls: group.map((p) => ({batch: encodeRecords(p.records), clientWrite: p.opts.clientWrite === true})), id})
  }

  private post(msg: WriterRequest, transfer: ArrayBuffer[] = []): void {
    try {
      this.worker.post(msg, transfer)
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)))
    }
  }

  private answer(reply: WriterReply): void {
    const flight = this.inFlight
    if (!flight || flight.id !== reply.id) return
    this.inFlight = undefined
    if (reply.ok) {
      if (this.full && (reply.changes.length > 0 || reply.stores !== undefined)) {
        this.full = false
        this.opts.storageFull?.(undefined)
      }
      this.opts.committed(reply.changes, reply.stores)
      if (flight.commitKind) this.opts.onCommit?.(flight.commitKind, reply.seconds, flight.records)
      const results = reply.result
      flight.items.forEach((item, i) => {
        if (item.kind === 'apply') item.resolve((results as ApplyResult[])[i] ?? {applied: 0, ignored: 0, superseded: []})
        else item.resolve(results)
      })
    } else {
      // What the request committed before it failed is in the rows: the cache must match them.
      if (reply.changes.length > 0 || reply.stores) this.opts.committed(reply.changes, reply.stores)
      const err = this.replyError(reply.error)
      for (const item of flight.items) item.reject(err)
    }
    this.pump()
  }

  /**
   * replyError is the error a failed request's callers get: {@link StorageFullError} when the
   * disk had no room (a coded, one-line refusal; {@link StorageWriterOptions.storageFull}
   * hears of the first), else the writer's error with its name and SQLite code.
   */
  private replyError(e: {name: string; message: string; code?: string}): Error {
    if (!isStorageFullCode(e.code)) return Object.assign(new Error(e.message), {name: e.name, code: e.code})
    const err = new StorageFullError(dirname(this.opts.file))
    if (!this.full) {
      this.full = true
      this.opts.storageFull?.(err)
    }
    return err
  }

  private fail(err: Error): void {
    if (this.failure && !this.inFlight && this.queue.length === 0) return
    const first = this.failure === undefined
    this.failure ??= err
    if (first && !this.closing) this.opts.failed?.(err)
    const items = [...(this.inFlight?.items ?? []), ...this.queue.splice(0)]
    this.inFlight = undefined
    for (const item of items) item.reject(this.failure)
  }
}

/** copyBatchRecords decodes a copy op's batch still held here; one in a frame slab is always sent with its keys (StorageEngine.applyCopyBatch). */
function copyBatchRecords(batch: Uint8Array | SlabBatch): NodeRecord[] {
  if (!(batch instanceof Uint8Array)) throw new Error('a copy op in a frame slab was queued without its keys')
  return decodeRecords(Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength))
}

/**
 * startWorker starts the writer thread from `storageWriterWorker` beside this module (its
 * one-file bundle when fresh, the compiled module, or the `.ts` source through tsx: see
 * startModuleWorker).
 */
function startWorker(data: WriterData): Worker {
  return startModuleWorker(import.meta.url, 'storageWriterWorker', data)
}
