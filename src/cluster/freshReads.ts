/** Slot is one key's run in flight and the run queued to start once it settles. */
interface Slot<T> {
  running: Promise<T>
  queued?: Promise<T>
}

/**
 * FreshReads runs `read(key)` so that every caller gets a run that started after it called,
 * while a burst of callers costs at most two runs per key: callers share a run only while
 * it has not started yet (the one queued behind the run in flight, started when that one
 * settles, either way).
 *
 * Why not share the run in flight: it may have been answered before a change the caller
 * must see. A node fencing a write for a split's parent re-reads the parent because it
 * knows the upper half; sharing a read sent before the split committed handed it the
 * parent's old, whole range after the upper half's barrier, and with a lagging watch that
 * write passed its fence and committed at the old epoch (review, session 15).
 */
export class FreshReads<K, T> {
  private readonly slots = new Map<K, Slot<T>>()

  constructor(private readonly read: (key: K) => Promise<T>) {}

  /** get resolves to (or rejects with) the outcome of a run of `read(key)` started after this call. */
  get(key: K): Promise<T> {
    const slot = this.slots.get(key)
    if (slot?.queued) return slot.queued
    if (!slot) return this.start(key, this.read(key))
    slot.queued = slot.running.then(
      () => this.read(key),
      () => this.read(key),
    )
    return slot.queued
  }

  /** start makes `running` the key's run in flight and, once it settles, promotes the run queued behind it (if any) or frees the key. */
  private start(key: K, running: Promise<T>): Promise<T> {
    const slot: Slot<T> = {running}
    this.slots.set(key, slot)
    const settled = () => {
      if (this.slots.get(key) !== slot) return
      if (slot.queued) void this.start(key, slot.queued)
      else this.slots.delete(key)
    }
    void running.then(settled, settled)
    return running
  }
}
