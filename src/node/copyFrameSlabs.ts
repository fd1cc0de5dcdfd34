import {MAX_KEY_BYTES, MAX_VALUE_BYTES} from '../model/recordLimits.js'

/**
 * Why a destination receives copy frames into shared slabs: every frame's batch used to be
 * a fresh 2 MiB buffer (allocTransferable), filled as its bytes arrived, moved to the main
 * thread and on to the writer thread, and freed there. Fresh memory page-faults on its first
 * touch: in the destination's profile (perf, session 37) the faults on those buffers were a
 * tenth of the copy receive thread, and every move of a buffer to another thread is a new
 * backing store V8 counts as external memory (GC pressure on the main isolate, which serves
 * clients). A few SharedArrayBuffers made once and shared once with the receive thread and
 * the writer thread are filled over and over: no new memory, no fault after the first
 * fill, and a frame crosses a thread as a slab index.
 *
 * Who may write a slab: only the thread that took it (FrameSlabs.take), until it hands the
 * frame on. Who frees it: whoever holds the frame last, once nothing reads its bytes any more
 * (for the puller: once the writer thread answered the frame's commit). A release that never
 * comes costs one slab (frames then get buffers of their own, as before), never correctness;
 * a release that came early would let the next frame overwrite records still being committed.
 */

/** DEFAULT_FRAME_SLABS and MAX_FRAME_SLABS: SHARDCTL_COPY_FRAME_SLABS unset, and its largest value. */
export const DEFAULT_FRAME_SLABS = 10
export const MAX_FRAME_SLABS = 64

/**
 * COPY_FRAME_SLABS is how many frame slabs a node makes (at its first copy): a stream holds up
 * to five at once (one filling, COPY_RECEIVE_CREDIT waiting for the main thread, one waiting
 * for its commit, one committing), so two incoming streams at once mostly find one free.
 * SHARDCTL_COPY_FRAME_SLABS overrides it (0: every frame in a buffer of its own, as before).
 */
export const COPY_FRAME_SLABS = frameSlabCount(process.env.SHARDCTL_COPY_FRAME_SLABS) ?? DEFAULT_FRAME_SLABS

/**
 * frameSlabCount reads SHARDCTL_COPY_FRAME_SLABS: unset or blank is the default
 * ({@link DEFAULT_FRAME_SLABS}), a whole number from 0 to {@link MAX_FRAME_SLABS} is itself,
 * anything else undefined. A bad value does not throw here (this module loads in the copy
 * receive and writer threads too): `node serve` refuses it before it starts
 * (frameSlabsEnvProblem, in serveOptions.ts); until session 39 it silently meant 10.
 */
export function frameSlabCount(raw: string | undefined): number | undefined {
  if (raw === undefined || raw.trim() === '') return DEFAULT_FRAME_SLABS
  const n = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN
  return Number.isInteger(n) && n >= 0 && n <= MAX_FRAME_SLABS ? n : undefined
}

/** frameSlabsEnvProblem is the one-line refusal of a bad SHARDCTL_COPY_FRAME_SLABS in `env` (undefined: it is fine or unset). */
export function frameSlabsEnvProblem(env: Record<string, string | undefined>): string | undefined {
  const raw = env.SHARDCTL_COPY_FRAME_SLABS
  if (frameSlabCount(raw) !== undefined) return undefined
  return `SHARDCTL_COPY_FRAME_SLABS: "${raw}" is not a whole number from 0 to ${MAX_FRAME_SLABS}`
}

/**
 * COPY_FRAME_SLAB_BYTES holds one frame of the size a puller asks for, one copy slice
 * (COPY_SLICE_BYTES in copyPuller.ts, 2 MiB: not imported, so the receive thread's bundle
 * stays small; a test checks they agree): a source cuts a page after the record that crossed
 * its size, so it may run over by one whole record. A larger frame gets a buffer of its own.
 */
export const COPY_FRAME_SLAB_BYTES = 2 * 1024 * 1024 + MAX_VALUE_BYTES + MAX_KEY_BYTES + 64 * 1024

const FREE = 0
const TAKEN = 1

/**
 * FIRST_THREAD_OWNER is the first tag a receive thread takes slabs under (each thread started
 * gets the next one; 1 is TAKEN, the main thread's): a slab's state says which thread holds
 * it, so the slabs of a thread that died can be freed (FrameSlabs.freeOwnedBy).
 */
export const FIRST_THREAD_OWNER = 2

/** SharedFrameSlabs is what crosses to another thread, once: the slabs and their states. */
export interface SharedFrameSlabs {
  slabs: SharedArrayBuffer[]
  /** states holds one Int32 per slab: 0 free, 1 taken (by the main thread, or handed to it), from 2 on taken by that receive thread (FIRST_THREAD_OWNER). */
  states: SharedArrayBuffer
}

/** TakenSlab is a slab taken for a frame's batch: its index and a view of its first `size` bytes. */
export interface TakenSlab {
  slab: number
  batch: Buffer
}

/**
 * FrameSlabs is one set of frame slabs as one thread sees it: the node's (made by
 * StorageEngine.copyFrameSlabs) or the same memory in another thread ({@link FrameSlabs.attach}).
 * Slabs are taken and freed with atomic operations on the shared states, so any thread may
 * take one (the receive thread does, when a frame begins) and any may free it (the main
 * thread does, once the frame committed), without a message in between.
 */
export class FrameSlabs {
  private readonly states: Int32Array

  private constructor(
    readonly shared: SharedFrameSlabs,
    private readonly owner: number,
  ) {
    this.states = new Int32Array(shared.states)
  }

  /** create makes `count` slabs of `bytes` each, all free. */
  static create(count = COPY_FRAME_SLABS, bytes = COPY_FRAME_SLAB_BYTES): FrameSlabs {
    return new FrameSlabs({slabs: Array.from({length: count}, () => new SharedArrayBuffer(bytes)), states: new SharedArrayBuffer(4 * Math.max(1, count))}, TAKEN)
  }

  /**
   * attach sees the slabs another thread shared (its {@link shared}); slabs it takes are marked
   * `owner` (a receive thread's tag, from {@link FIRST_THREAD_OWNER}; default: as the main thread's).
   */
  static attach(shared: SharedFrameSlabs, owner = TAKEN): FrameSlabs {
    return new FrameSlabs(shared, owner)
  }

  /** take claims a free slab for a batch of `size` bytes, or returns undefined (none free, or `size` does not fit: the caller allocates). */
  take(size: number): TakenSlab | undefined {
    const slabs = this.shared.slabs
    if (size <= 0 || slabs.length === 0 || size > slabs[0]!.byteLength) return undefined
    for (let i = 0; i < slabs.length; i++) {
      if (Atomics.compareExchange(this.states, i, FREE, this.owner) === FREE) return {slab: i, batch: Buffer.from(slabs[i]!, 0, size)}
    }
    return undefined
  }

  /** view is the first `length` bytes of slab `slab` (a frame another thread filled and handed here). */
  view(slab: number, length: number): Buffer {
    return Buffer.from(this.shared.slabs[slab]!, 0, length)
  }

  /**
   * releaser returns the function that frees slab `slab`: once, however often it is called,
   * so a late second call never frees the slab after another frame took it.
   */
  releaser(slab: number): () => void {
    let out = true
    return () => {
      if (!out) return
      out = false
      Atomics.store(this.states, slab, FREE)
    }
  }

  /**
   * adopt takes over slab `slab`, which thread `from` handed here (posted a frame in it): true
   * once it is this thread's to free; false when it is no longer `from`'s (freed at that
   * thread's death by {@link freeOwnedBy}: a message delivered after its exit), and then the
   * frame must be dropped, not read nor freed (another frame may hold the slab by now).
   */
  adopt(slab: number, from: number): boolean {
    return Atomics.compareExchange(this.states, slab, from, TAKEN) === from
  }

  /**
   * freeOwnedBy frees every slab thread `owner` holds (taken by it and not adopted here) and
   * returns how many: call it only once that thread has exited, when nothing will write them
   * or post them any more.
   */
  freeOwnedBy(owner: number): number {
    let n = 0
    for (let i = 0; i < this.shared.slabs.length; i++) if (Atomics.compareExchange(this.states, i, owner, FREE) === owner) n++
    return n
  }

  /** indexOf is the slab `buf` lies in (a view this thread made of it), or -1. */
  indexOf(buf: Buffer): number {
    return buf.buffer instanceof SharedArrayBuffer ? this.shared.slabs.indexOf(buf.buffer) : -1
  }

  /** available is how many slabs are free now (for tests). */
  available(): number {
    let n = 0
    for (let i = 0; i < this.shared.slabs.length; i++) if (Atomics.load(this.states, i) === FREE) n++
    return n
  }
}
