import {type GcFloor} from './lwwSql.js'
import {type FrameSlabs} from './copyFrameSlabs.js'
import {allocTransferable} from './transferableBatch.js'

/**
 * The copy stream (`GET /v1/shards/{shard}/stream`, media type {@link COPY_STREAM_CONTENT_TYPE}):
 * one long HTTP response carrying a shard's records as a sequence of length-prefixed frames,
 * so a destination pulls a whole shard over one connection instead of one request per chunk.
 * Each frame, little-endian:
 *
 *   u32 batchLen · u16 cursorLen · u8 flags (bit 0: last) · cursor (ASCII) · record batch (recordCodec.ts)
 *
 * The cursor resumes the scan after the frame's last record (empty on the last frame). A
 * stream that ends without a last frame was cut: the reader resumes from the last cursor
 * it applied. Binary, not NDJSON: values are binary and up to 1 MiB, and base64 would add a
 * third to every byte copied.
 */
export const COPY_STREAM_CONTENT_TYPE = 'application/x-shardctl-copy-stream'
const FRAME_HEADER = 4 + 2 + 1
const FLAG_LAST = 1
/** MAX_FRAME_BATCH_BYTES bounds one frame's record batch (a page is cut near its size limit; one record may overshoot by 1 MiB). */
export const MAX_FRAME_BATCH_BYTES = 64 * 1024 * 1024

/** CopyFrame is one decoded frame: its record batch (undecoded; from FrameReader, a transferable buffer of its own), the cursor after it, and whether it ends the stream. */
export interface CopyFrame {
  batch: Buffer
  cursor: string | undefined
  last: boolean
  /**
   * gcFloors, on a stream's first frame only, are the source's gc floors over the streamed
   * range (its GC_FLOORS_HEADER, gcFloorsHeader.ts): the reader adopts them before it
   * applies the frame (CopyPuller). Absent on later frames and from a source that predates them.
   */
  gcFloors?: GcFloor[]
  /**
   * slab is the frame slab the batch lies in (copyFrameSlabs.ts: the reader took it from
   * its FrameSlabs), absent for a batch in a buffer of its own.
   */
  slab?: number
  /**
   * release frees the batch's slab: its holder calls it once nothing reads the batch any more
   * (the puller: once the frame's commit was answered, or the frame was dropped unapplied).
   * Absent for a batch in a buffer of its own (garbage collected as usual).
   */
  release?: () => void
}

/**
 * releaseFrames frees the slabs of `frames` (frames taken and never to be used: a stream
 * closed with frames still queued).
 */
export function releaseFrames(frames: Iterable<CopyFrame>): void {
  for (const f of frames) f.release?.()
}

/** CopyFrameError: the stream is malformed (the reader must drop it and resume from its last applied cursor). */
export class CopyFrameError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'CopyFrameError'
  }
}

/** encodeFrame serialises one frame. `cursor` undefined (or `last`) writes an empty cursor. Throws RangeError for a cursor over 65535 bytes. */
export function encodeFrame(batch: Buffer, cursor: string | undefined, last: boolean): Buffer {
  return Buffer.concat([encodeFrameHead(batch.length, cursor, last), batch])
}

/**
 * encodeFrameHead serialises a frame's header and cursor, the bytes that precede its
 * `batchLength`-byte batch: writing the head and then the batch sends the same bytes as
 * {@link encodeFrame} without copying the batch. Throws RangeError as encodeFrame does.
 */
export function encodeFrameHead(batchLength: number, cursor: string | undefined, last: boolean): Buffer {
  const c = last ? '' : (cursor ?? '')
  const cLen = Buffer.byteLength(c, 'latin1')
  if (cLen > 0xffff) throw new RangeError('copy cursor longer than 65535 bytes')
  const head = Buffer.allocUnsafe(FRAME_HEADER + cLen)
  head.writeUInt32LE(batchLength, 0)
  head.writeUInt16LE(cLen, 4)
  head.writeUInt8(last ? FLAG_LAST : 0, 6)
  head.write(c, FRAME_HEADER, 'latin1')
  return head
}

/**
 * FrameReader turns stream bytes, pushed in any split, into frames. `push` returns the
 * frames completed by the bytes so far; it throws {@link CopyFrameError} for an unknown
 * flag, an oversize batch, or bytes after the last frame.
 *
 * Each frame's batch is assembled in a buffer of its own from allocTransferable
 * (transferableBatch.ts), as its bytes arrive: every byte received is copied once, and a
 * frame applied whole is handed to the storage writer thread without another copy. (It
 * used to concatenate the chunks and cut slices from them, two copies into fresh memory:
 * a tenth of a destination's main thread in a 64 KiB-value copy's profile.) Given `slabs`,
 * a batch that fits goes into a free frame slab instead (CopyFrame.slab and release): memory
 * filled before, so it does not page-fault; {@link dispose} frees the slab of a frame still
 * being filled when its stream stops.
 */
export class FrameReader {
  /** head holds the bytes of the next frame's header and cursor until they are all here. */
  private head: Buffer[] = []
  private headBytes = 0
  /** batch is the frame whose batch is being filled (`filled` bytes so far, after `headBytes` of header and cursor), undefined between frames. */
  private batch: {frame: CopyFrame; headBytes: number; filled: number} | undefined
  private ended = false

  constructor(private readonly slabs?: FrameSlabs) {}

  /**
   * push appends `chunk` and returns every frame it completed, in order. When it throws, the
   * slabs of the frames it had completed and of the one being filled are freed (the stream is
   * dropped: none of them will be applied).
   */
  push(chunk: Buffer): CopyFrame[] {
    if (this.ended && chunk.length > 0) throw new CopyFrameError('bytes after the last frame')
    const out: CopyFrame[] = []
    try {
      this.cut(chunk, out)
    } catch (err) {
      releaseFrames(out)
      this.dispose()
      throw err
    }
    return out
  }

  /** cut moves `chunk`'s bytes into frames, appending every frame completed to `out`. */
  private cut(chunk: Buffer, out: CopyFrame[]): void {
    let at = 0
    while (at < chunk.length || (this.batch && this.batch.filled === this.batch.frame.batch.length)) {
      if (this.batch) {
        const b = this.batch
        const n = Math.min(chunk.length - at, b.frame.batch.length - b.filled)
        // Into a slab (shared memory) `copy` would go byte by byte (see putBytes in recordCodec.ts); `fill` is one memcpy.
        if (b.frame.slab !== undefined && n >= 256) b.frame.batch.fill(chunk.subarray(at, at + n), b.filled, b.filled + n)
        else chunk.copy(b.frame.batch, b.filled, at, at + n)
        b.filled += n
        at += n
        if (b.filled < b.frame.batch.length) return
        this.batch = undefined
        out.push(b.frame)
        if (b.frame.last) {
          this.ended = true
          if (at < chunk.length) throw new CopyFrameError('bytes after the last frame')
          return
        }
        continue
      }
      at = this.takeHead(chunk, at)
      if (!this.batch) return
    }
  }

  /** dispose frees the slab of the frame being filled, if any (its stream stopped: those bytes will never be a frame). */
  dispose(): void {
    this.batch?.frame.release?.()
    this.batch = undefined
  }

  /** pending is the number of bytes held that do not yet make a whole frame. */
  pending(): number {
    return this.batch ? this.batch.headBytes + this.batch.filled : this.headBytes
  }

  /**
   * takeHead moves bytes of `chunk` from `at` into the held header until the header and its
   * cursor are whole, then starts the frame's batch; returns where in `chunk` it stopped.
   */
  private takeHead(chunk: Buffer, at: number): number {
    const want = this.headBytes < FRAME_HEADER ? FRAME_HEADER : FRAME_HEADER + this.held(FRAME_HEADER).readUInt16LE(4)
    const n = Math.min(chunk.length - at, want - this.headBytes)
    this.head.push(chunk.subarray(at, at + n))
    this.headBytes += n
    at += n
    if (this.headBytes < want) return at
    const head = this.held(want)
    const batchLen = head.readUInt32LE(0)
    const cursorLen = head.readUInt16LE(4)
    const flags = head.readUInt8(6)
    if (flags & ~FLAG_LAST) throw new CopyFrameError(`copy frame has unknown flags ${flags}`)
    if (batchLen > MAX_FRAME_BATCH_BYTES) throw new CopyFrameError(`copy frame of ${batchLen} bytes exceeds ${MAX_FRAME_BATCH_BYTES}`)
    // The cursor's length is in the header: read it before asking for the cursor's bytes.
    if (want === FRAME_HEADER && cursorLen > 0) return this.takeHead(chunk, at)
    const cursor = head.toString('latin1', FRAME_HEADER, FRAME_HEADER + cursorLen)
    this.head = []
    this.headBytes = 0
    const frame: CopyFrame = {batch: Buffer.alloc(0), cursor: cursor === '' ? undefined : cursor, last: (flags & FLAG_LAST) !== 0}
    // A zero-length batch gets a plain empty buffer: there is nothing to hand over.
    const taken = batchLen > 0 ? this.slabs?.take(batchLen) : undefined
    if (taken) {
      frame.batch = taken.batch
      frame.slab = taken.slab
      frame.release = this.slabs!.releaser(taken.slab)
    } else if (batchLen > 0) frame.batch = allocTransferable(batchLen)
    this.batch = {frame, headBytes: want, filled: 0}
    return at
  }

  /** held returns the first `n` held header bytes as one buffer (they are all held). */
  private held(n: number): Buffer {
    if (this.head.length > 1) this.head = [Buffer.concat(this.head, this.headBytes)]
    return this.head[0]!.subarray(0, n)
  }
}

/** ADAPTIVE_FRAME_SECONDS: a frame carries about this long's worth of bytes at the copy's rate, so a throttled copy stays smooth. */
const ADAPTIVE_FRAME_SECONDS = 0.1
/** MIN_FRAME_BYTES keeps very slow copies from paying one frame and one commit per few records. */
export const MIN_FRAME_BYTES = 16 * 1024

/**
 * frameBytesFor is the page size a copy stream uses at `rate` bytes/s (null: unthrottled):
 * about {@link ADAPTIVE_FRAME_SECONDS} of the rate, between {@link MIN_FRAME_BYTES} and
 * `cap`; `cap` itself when unthrottled (large pages: one commit and one fsync per page).
 */
export function frameBytesFor(rate: number | null, cap: number): number {
  const upper = Math.max(MIN_FRAME_BYTES, Math.floor(cap))
  if (rate === null) return upper
  return Math.min(upper, Math.max(MIN_FRAME_BYTES, Math.floor(rate * ADAPTIVE_FRAME_SECONDS)))
}
