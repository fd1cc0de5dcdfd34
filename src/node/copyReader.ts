import {type Worker} from 'node:worker_threads'
import {type HashRange} from '../model/range.js'
import {type BucketListing} from './bucketListing.js'
import {type CopyPage} from './copyPageReader.js'
import {type BucketListReply, type CheckpointReply, type CopyReadReply, type CopyReaderData, type SlabsMessage} from './copyReaderProtocol.js'
import {SlabLender} from './copyPageSlabs.js'
import {startModuleWorker} from './workerModule.js'

interface Pending {
  /** resolve takes a read's page, a bucket listing or a checkpoint's report (each request's promise is typed by its method). */
  resolve: (answer: Answer) => void
  reject: (err: Error) => void
  /** slab is the slab lent for a read (copyPageSlabs.ts), given back unless the page kept it. */
  slab?: number
}

type Answer = CopyPage | BucketListing | WalCheckpoint

/** WalCheckpoint is what a PASSIVE checkpoint reports: the WAL's frames and how many of them are in the database file. */
export interface WalCheckpoint {
  log: number
  checkpointed: number
}

/**
 * CopyReader is the main thread's side of the copy reader thread (copyReaderWorker.ts):
 * {@link read} returns a copy stream page and {@link listBuckets} a digest bucket listing,
 * each read and encoded there, on the thread's own connection, so a source serving a shard
 * copy, or a replica listing buckets for a verify or a repair, keeps its event loop for
 * client requests.
 * The thread starts at the first read and is referenced only while reads are pending (an
 * idle reader never keeps a process alive). If it dies, pending reads reject and the next
 * read starts a new one.
 */
export class CopyReader {
  private worker: Worker | undefined
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private closed = false
  /**
   * lender owns the slabs pages are written into, made at the first page read (a node that
   * never serves a copy never holds them: 42 MiB V8 counts as external memory); shared with
   * every thread this reader starts, so a restarted thread writes the same ones.
   */
  private lender: SlabLender | undefined
  /** slabsShared is the thread the slabs were last sent to (once per thread, before its first read into one). */
  private slabsShared: Worker | undefined

  constructor(
    private readonly data: CopyReaderData,
    private readonly makeLender: () => SlabLender = () => new SlabLender(),
  ) {}

  /**
   * read returns the page of `range` after `cursor` of about `maxBytes` (see readCopyPage).
   * Rejects with RangeError for a malformed cursor or one outside `range`, or with the
   * thread's error; with Error('copy reader is closed') after {@link close}.
   */
  read(range: HashRange, cursor: string | undefined, maxBytes: number): Promise<CopyPage> {
    const slab = this.closed ? undefined : (this.lender ??= this.makeLender()).lend()
    return this.ask<CopyPage>((id) => (slab === undefined ? {id, range, cursor, maxBytes} : {id, range, cursor, maxBytes, slab}), slab)
  }

  /**
   * listBuckets returns the records of the asked digest buckets of `range`, read in one
   * read transaction and encoded in the thread, bounded by `maxBytes` at whole buckets (see
   * readBucketListing); the batch arrives by transfer, not by copy. Rejects as {@link read} does.
   */
  listBuckets(range: HashRange, buckets: readonly number[], maxBytes: number | undefined): Promise<BucketListing> {
    return this.ask<BucketListing>((id) => ({id, op: 'buckets', range, buckets: [...buckets], maxBytes}))
  }

  /**
   * checkpoint runs a PASSIVE WAL checkpoint on the thread's connection: it copies the WAL's
   * committed pages into the database file (fsyncing both) without blocking the writer
   * thread, whose commits then rarely reach their own autocheckpoint (see StorageEngine).
   * Requests queue behind page reads. Rejects as {@link read} does.
   */
  checkpoint(): Promise<WalCheckpoint> {
    return this.ask<WalCheckpoint>((id) => ({id, op: 'checkpoint'}))
  }

  /**
   * ask posts the request `message(id)` to the thread (started if need be) and resolves with
   * its answer. A thread that cannot start (the Worker constructor throws) is a rejection
   * like any other failure, never a throw: every caller awaits the promise, and a throw
   * escaped a copy stream's read-ahead (which only catches its promise) as an exception.
   */
  private ask<T extends Answer>(message: (id: number) => object, slab?: number): Promise<T> {
    if (this.closed) return Promise.reject(new Error('copy reader is closed'))
    let worker: Worker
    try {
      worker = this.started()
    } catch (err) {
      // No thread took the request: the slab lent for it is free again.
      if (slab !== undefined) this.lender?.giveBack(slab)
      return Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
    if (slab !== undefined && this.lender && this.slabsShared !== worker) {
      // Once per thread, ahead of its first read into a slab (messages arrive in order).
      worker.postMessage({op: 'slabs', slabs: this.lender.slabs} satisfies SlabsMessage)
      this.slabsShared = worker
    }
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, {resolve: resolve as (answer: Answer) => void, reject, ...(slab === undefined ? {} : {slab})})
      worker.ref()
      worker.postMessage(message(id))
    })
  }

  /** close stops the thread; pending reads reject. Idempotent. */
  async close(): Promise<void> {
    this.closed = true
    const w = this.worker
    this.worker = undefined
    if (w) await w.terminate()
    this.failAll(new Error('copy reader is closed'))
  }

  private started(): Worker {
    if (this.worker) return this.worker
    const worker = startModuleWorker(import.meta.url, 'copyReaderWorker', this.data)
    worker.unref()
    worker.on('message', (reply: CopyReadReply | CheckpointReply | BucketListReply) => this.answer(reply))
    worker.on('error', (err) => this.lost(worker, err))
    worker.once('exit', (code) => this.lost(worker, new Error(`copy reader thread exited (code ${code})`)))
    this.worker = worker
    return worker
  }

  private answer(reply: CopyReadReply | CheckpointReply | BucketListReply): void {
    const p = this.pending.get(reply.id)
    if (!p) return
    this.pending.delete(reply.id)
    if (this.pending.size === 0) this.worker?.unref()
    if ('checkpoint' in reply) p.resolve(reply.checkpoint)
    else if ('listing' in reply) {
      const {batch: b, records, answered} = reply.listing
      p.resolve({batch: Buffer.from(b.buffer, b.byteOffset, b.byteLength), records, answered})
    } else if (reply.ok && reply.inSlab !== undefined && p.slab !== undefined) {
      // The page is in the slab lent for it: it stays out until the page's holder releases it.
      const {batch, release} = this.lender!.page(p.slab, reply.inSlab)
      p.resolve({batch, records: reply.records, cursor: reply.cursor, release})
    } else if (reply.ok && reply.batch) {
      this.giveBack(p)
      const b = reply.batch
      p.resolve({batch: Buffer.from(b.buffer, b.byteOffset, b.byteLength), records: reply.records, cursor: reply.cursor})
    } else if (reply.ok) {
      this.giveBack(p)
      p.reject(new Error('copy reader answered a read without its page'))
    } else {
      this.giveBack(p)
      p.reject(Object.assign(reply.error.name === 'RangeError' ? new RangeError(reply.error.message) : new Error(reply.error.message), {name: reply.error.name}))
    }
  }

  private lost(worker: Worker, err: Error): void {
    if (this.worker !== worker) return
    this.worker = undefined
    this.failAll(err)
  }

  private failAll(err: Error): void {
    const all = [...this.pending.values()]
    this.pending.clear()
    for (const p of all) {
      this.giveBack(p)
      p.reject(err)
    }
  }

  /** giveBack returns the slab lent for a read that ends without a page in it (the thread wrote it elsewhere, failed, or died). */
  private giveBack(p: Pending): void {
    if (p.slab !== undefined) this.lender?.giveBack(p.slab)
    p.slab = undefined
  }
}
