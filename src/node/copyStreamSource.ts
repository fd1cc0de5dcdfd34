import {type ServerResponse} from 'node:http'
import {type HashRange} from '../model/range.js'
import {encodeFrameHead, frameBytesFor} from './copyFrames.js'
import {spend} from './nodeThrottles.js'
import {onResponseGone} from './responseGone.js'
import {type CopyPage} from './copyPageReader.js'
import {type StorageEngine} from './storageEngine.js'
import {type TokenBucket} from '../throttle/tokenBucket.js'

/** CopyStreamSource is what one copy stream reads from and answers to. */
export interface CopyStreamSource {
  engine: Pick<StorageEngine, 'readCopyPage'>
  range: HashRange
  /** cursor resumes after a position a previous stream reached (undefined: from the start). */
  cursor: string | undefined
  /** frameBytes is the page size of one frame (see frameBytesFor). */
  frameBytes: number
  /** fenceLost names why the node may no longer serve this copy (epoch moved on, role gone), or undefined while it may. */
  fenceLost: () => string | undefined
  /** buckets are spent per frame before it is written (the node's send bucket). */
  buckets: readonly TokenBucket[]
  /**
   * pace is the stream's own bucket (StreamPaces), spent per frame like `buckets`, whose
   * live rate also sizes the pages: about 0.1 s of it (frameBytesFor), at most
   * `frameBytes`. A stream opened at a high rate (large frames) and cut to a crawl would
   * otherwise hold each large frame for seconds before its first byte: the destination
   * reads that silence as a dead source (its idle timeout, NODE_UNREACHABLE), and a rate
   * raised meanwhile waits out the sleep already computed at the old one.
   */
  pace?: TokenBucket
  sleep: (ms: number) => Promise<void>
  /** onBytes counts bytes sent (metrics). */
  onBytes?: (n: number) => void
}

/**
 * writeCopyStream writes the range's records to `res` as copy frames (copyFrames.ts),
 * page by page from `cursor`, until the last frame or until the reader goes away. Pages
 * are read in the engine's copy reader thread, each while the one before it drains into
 * the socket (records written meanwhile may or may not appear: the copy runs beside dual
 * writes, and LWW makes either fine). At most one page is read ahead, and the next frame
 * waits while the socket is over its high-water mark, so a slow destination holds the
 * source to about two pages per stream. A page read ahead is checked against the stream's
 * live rate (read again, smaller, after a cut) and against the fence just before it is
 * written. A read that fails rejects this promise once the frame before it drained, as a
 * read made only then would.
 * When the fence is lost mid-stream the response is destroyed without a last frame: the
 * reader sees a cut stream and asks again, to be refused with the reason. Headers must
 * have been sent by the caller.
 */
export async function writeCopyStream(src: CopyStreamSource, res: ServerResponse): Promise<'done' | 'closed' | 'fenced'> {
  const closed = new AbortController()
  // Pages in shared slabs are released once their bytes can no longer be read: after their
  // socket write completed, or when the response closed (after 'finish', every write has
  // completed; after the socket is destroyed, libuv has cancelled every pending write
  // before the close is emitted). Never earlier: the slab's next page would overwrite bytes
  // still waiting in the socket's queue.
  const sending = new Set<() => void>()
  // Also when the response was gone before the stream began (the client left while the
  // caller awaited its fence: its writes would be dropped and it would never drain) or it
  // never had the socket (queued on a pipelined connection): see onResponseGone.
  onResponseGone(res, () => {
    closed.abort()
    for (const release of sending) release()
    sending.clear()
  })
  return streamPages(src, res, closed.signal, sending)
}

/** streamPages is writeCopyStream's loop; `sending` holds the releases of pages written and not yet flushed. */
async function streamPages(src: CopyStreamSource, res: ServerResponse, signal: AbortSignal, sending: Set<() => void>): Promise<'done' | 'closed' | 'fenced'> {
  const closed = {signal}
  let cursor = src.cursor
  let pageBytes = firstPageBytes(src.frameBytes)
  // The next page is read while the one before it drains into the socket: reading only
  // after the drain left the socket idle for a whole read (a round trip to the copy reader
  // thread and its scan), so the stream ran at 1 / (read time + send time) instead of
  // 1 / max(read time, send time). At most one page is read ahead (memory stays bounded by
  // two frames per stream); it is checked against the fence and the live rate before it is sent.
  let ahead: Promise<ReadPage> | undefined
  // A page read ahead and never sent gives its slab back once its read settles.
  const dropAhead = () => {
    ahead?.then(
      (r) => r.page.release?.(),
      () => {},
    )
    ahead = undefined
  }
  for (;;) {
    if (closed.signal.aborted) {
      dropAhead()
      return 'closed'
    }
    if (src.fenceLost() !== undefined) {
      dropAhead()
      res.destroy()
      return 'fenced'
    }
    // Read and encoded in the copy reader thread: this loop only waits for it.
    const read = await (ahead ?? readPage(src, cursor, pageBytes))
    ahead = undefined
    // A page read ahead at a rate since cut is read again at the new size (see readPage).
    let page = read.page
    if (!fitsPace(src, read)) {
      page.release?.()
      page = (await readPage(src, cursor, read.asked)).page
    }
    pageBytes = Math.min(src.frameBytes, pageBytes * 2)
    const batch = page.batch
    if (!(await spend(src.pace ? [...src.buckets, src.pace] : src.buckets, batch.length, src.sleep, closed.signal)) || closed.signal.aborted) {
      page.release?.()
      return 'closed'
    }
    if (src.fenceLost() !== undefined) {
      page.release?.()
      res.destroy()
      return 'fenced'
    }
    const last = page.cursor === undefined
    // Head and batch as two writes: one frame's batch (up to MiBs) is never copied into another buffer.
    res.write(encodeFrameHead(batch.length, page.cursor, last))
    const ok = writeReleasing(res, batch, page.release, sending)
    src.onBytes?.(batch.length)
    if (last) {
      res.end()
      return 'done'
    }
    cursor = page.cursor
    const next = readPage(src, cursor, pageBytes)
    // A read that fails while nobody waits for it is not an unhandled rejection; the loop's await sees it.
    next.catch(() => {})
    ahead = next
    if (!ok) {
      await drainedOrClosed(res, closed.signal)
    } else {
      // Let requests in between pages even when the socket keeps up.
      await new Promise((r) => setImmediate(r))
    }
  }
}

/** ReadPage is a page and the size it was read at (its page-size bound: at most `asked` bytes). */
interface ReadPage {
  page: CopyPage
  asked: number
}

/** fitsPace tells whether a page read at `asked` bytes is still within about 0.1 s of the stream's live rate. */
function fitsPace(src: CopyStreamSource, read: ReadPage): boolean {
  return pacedBytes(src, read.asked) >= read.asked
}

/** pacedBytes is `pageBytes` cut to about 0.1 s of the stream's live rate (frameBytesFor); `pageBytes` itself for a stream without a pace. */
function pacedBytes(src: CopyStreamSource, pageBytes: number): number {
  return src.pace ? Math.min(pageBytes, frameBytesFor(src.pace.currentRate(), src.frameBytes)) : pageBytes
}

/**
 * readPage reads the page after `cursor` of at most `pageBytes`, and at most about 0.1 s
 * of the stream's own rate as it is once the page is read: a page read while the rate was
 * cut is read again at the new size (the cursor has not moved; each retry is smaller, down
 * to MIN_FRAME_BYTES, so this ends), instead of holding the stream silent for its bytes
 * at the new rate.
 */
async function readPage(src: CopyStreamSource, cursor: string | undefined, pageBytes: number): Promise<ReadPage> {
  let size = pacedBytes(src, pageBytes)
  for (;;) {
    const page = await src.engine.readCopyPage(src.range, cursor, size)
    const allowed = pacedBytes(src, pageBytes)
    if (allowed >= size) return {page, asked: size}
    page.release?.()
    size = allowed
  }
}

/**
 * writeReleasing writes `batch` to `res` and releases its page (when it is in a slab) once
 * the write completed, or when the response closes first (writeCopyStream's close handler
 * runs what is left in `sending`). Returns what `res.write` returned.
 */
function writeReleasing(res: ServerResponse, batch: Buffer, release: (() => void) | undefined, sending: Set<() => void>): boolean {
  if (!release) return res.write(batch)
  // Once: the write's callback may still come after the close released the page.
  const done = () => {
    if (sending.delete(done)) release()
  }
  sending.add(done)
  return res.write(batch, done)
}

/** FIRST_PAGE_BYTES is the first frame's page: small, so the first bytes land (and show in progress) without waiting on a whole frame. */
export const FIRST_PAGE_BYTES = 64 * 1024

/**
 * firstPageBytes is where a stream's pages start: {@link FIRST_PAGE_BYTES} (or `frameBytes`
 * when smaller), doubling each page up to `frameBytes`. A 4 MiB first frame must be read,
 * sent, applied and fsync'd before the destination reports a byte; ramping up also spares
 * the source's event loop one long scan when a stream starts.
 */
export function firstPageBytes(frameBytes: number): number {
  return Math.min(frameBytes, FIRST_PAGE_BYTES)
}

/** drainedOrClosed resolves when `res` drains or `signal` aborts, removing both listeners (one stream writes thousands of pages). */
function drainedOrClosed(res: ServerResponse, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done)
      signal.removeEventListener('abort', done)
      resolve()
    }
    res.once('drain', done)
    signal.addEventListener('abort', done, {once: true})
  })
}
