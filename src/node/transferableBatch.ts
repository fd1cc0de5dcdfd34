/**
 * Record batches handed to the storage writer thread by transfer instead of by copy.
 *
 * postMessage copies a Uint8Array it is not told to transfer: it serialises the whole
 * ArrayBuffer behind the view (not only the view's bytes) and the thread deserialises it
 * into a new one, two copies of every byte copied into a node, plus garbage for both
 * heaps. Transferring moves the ArrayBuffer instead and detaches it here, so it is only
 * safe for a buffer nobody else holds a view into: one allocated for that purpose
 * ({@link allocTransferable}), never a pooled Buffer (Buffer.allocUnsafe shares one
 * ArrayBuffer between small buffers) nor a view into a received frame.
 */

const transferable = new WeakSet<ArrayBufferLike>()

/**
 * allocTransferable returns an uninitialised Buffer of `size` bytes backed by an
 * ArrayBuffer of its own, marked as one its holder hands over: passing it to
 * StorageEngine.applyCopyBatch as `encoded` moves its bytes to the writer thread and
 * leaves it detached (length 0) here. Fill it before handing it over; read it never after.
 */
export function allocTransferable(size: number): Buffer {
  const buf = Buffer.allocUnsafeSlow(size)
  transferable.add(buf.buffer)
  return buf
}

/**
 * adoptTransferable marks `buf` as one its holder hands over, as {@link allocTransferable}
 * does, when it spans its whole ArrayBuffer and so owns it (one just received by transfer
 * from another thread, whose marks stay there); returns `buf`. Anything else stays unmarked
 * (handing it over copies it).
 */
export function adoptTransferable(buf: Buffer): Buffer {
  if (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength && buf.byteLength > 0) transferable.add(buf.buffer)
  return buf
}

/**
 * transferableCopyOf returns `buf` itself when it came from {@link allocTransferable} and
 * spans its whole ArrayBuffer, else a transferable copy of its bytes (the caller keeps
 * `buf`, e.g. a view into a frame its records still point into).
 */
export function transferableCopyOf(buf: Buffer): Buffer {
  if (transferable.has(buf.buffer) && buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength) return buf
  const copy = allocTransferable(buf.length)
  buf.copy(copy)
  return copy
}
