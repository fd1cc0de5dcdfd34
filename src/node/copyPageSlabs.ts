import {MAX_KEY_BYTES, MAX_VALUE_BYTES} from '../model/recordLimits.js'

/**
 * Why copy pages travel in shared slabs: a page read in the copy reader thread used to
 * reach the main thread as a transferred ArrayBuffer of its own. V8 counts each adopted
 * backing store as external memory, and on a source streaming at 80 to 100 MiB/s that
 * started a full mark-compact of the main isolate about every 10 MiB: in bench:move
 * (session 20, `BENCH_TRACE_GC`) the source's main isolate ran 21 mark-compacts in the
 * first 6 s of a 1 GiB copy, each a 3 to 36 ms pause plus 10 to 25 ms of marking steps on
 * the thread that serves the node's clients, with next to nothing freed (23.2 → 22.9 MB).
 * Pages written into a few SharedArrayBuffers shared once, at the thread's start, reach the
 * main thread as a slab index: a view on memory both threads already hold, no new backing
 * store, nothing for V8 to count (1 mark-compact per GiB against 11 in a two-thread
 * micro-benchmark).
 */

/**
 * COPY_PAGE_SLABS is how many slabs a node shares with its copy reader thread: two pages in
 * flight per stream (one sending, one read ahead), for four streams. SHARDCTL_COPY_PAGE_SLABS
 * overrides it for benchmarks (0: every page in a buffer of its own, as before the slabs).
 */
export const COPY_PAGE_SLABS = slabCount(process.env.SHARDCTL_COPY_PAGE_SLABS)

/** slabCount reads SHARDCTL_COPY_PAGE_SLABS: a whole number from 0 to 64, else the default 8 (`node serve` refuses any other value before it starts: tuningEnv.ts). */
export function slabCount(raw: string | undefined): number {
  const n = Number(raw?.trim() || NaN)
  return Number.isInteger(n) && n >= 0 && n <= 64 ? n : 8
}

/**
 * COPY_PAGE_SLAB_BYTES holds one page of the default 4 MiB frame: a page stops at its
 * `maxBytes` after the record that crossed it, so it may run over by one whole record.
 * A larger page (a frame raised with `--chunk-size`, a snapshot chunk of up to 16 MiB)
 * gets a buffer of its own, as every page did before.
 */
export const COPY_PAGE_SLAB_BYTES = 4 * 1024 * 1024 + MAX_VALUE_BYTES + MAX_KEY_BYTES + 64 * 1024

/**
 * SlabLender is the main thread's side of the slabs: it alone decides which slab is free.
 * A slab is lent for one read (its index travels with the request) and comes back either
 * at once (the reader thread did not use it, the read failed, the thread died) or when
 * the page written into it is released by whoever sent it. A release that never comes
 * costs one slab (pages then get buffers of their own, as before), never correctness; a
 * release that came early would let the next page overwrite bytes still being sent, so
 * consumers release only once nothing references the page's bytes any more (see
 * writeCopyStream).
 */
export class SlabLender {
  readonly slabs: SharedArrayBuffer[]
  private readonly free: number[]

  constructor(count = COPY_PAGE_SLABS, bytes = COPY_PAGE_SLAB_BYTES) {
    this.slabs = Array.from({length: count}, () => new SharedArrayBuffer(bytes))
    this.free = this.slabs.map((_, i) => count - 1 - i)
  }

  /** lend takes a free slab's index, or undefined when every slab is out (the read then allocates). */
  lend(): number | undefined {
    return this.free.pop()
  }

  /** giveBack returns a slab lent for a read that did not keep it. */
  giveBack(slab: number): void {
    this.free.push(slab)
  }

  /**
   * page returns a view of the first `length` bytes of slab `slab` and the function that
   * frees the slab; the function frees it once, however often it is called.
   */
  page(slab: number, length: number): {batch: Buffer; release: () => void} {
    let out = true
    return {
      batch: Buffer.from(this.slabs[slab]!, 0, length),
      release: () => {
        if (!out) return
        out = false
        this.free.push(slab)
      },
    }
  }

  /** available is how many slabs are free (for tests and metrics). */
  available(): number {
    return this.free.length
  }
}

/**
 * slabAllocator is what the reader thread encodes a page with: into `slab` when it fits
 * (and then `used()` says so), into a fresh unpooled buffer otherwise (an ArrayBuffer of
 * its own, transferred to the main thread, never copied).
 */
export function slabAllocator(slab: SharedArrayBuffer | undefined): {alloc: (size: number) => Buffer; used: () => boolean} {
  let used = false
  return {
    alloc: (size) => {
      if (slab && size <= slab.byteLength) {
        used = true
        return Buffer.from(slab, 0, size)
      }
      return Buffer.allocUnsafeSlow(size)
    },
    used: () => used,
  }
}
