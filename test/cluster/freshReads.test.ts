import {describe, expect, it} from 'vitest'
import {FreshReads} from '../../src/cluster/freshReads.js'

/** HeldReads is a read whose runs are started in order and settled by the test; `value` is what a run started now would read. */
function heldReads() {
  const runs: {started: number; settle: (fail?: boolean) => void}[] = []
  let value = 0
  const reads = new FreshReads<string, number>(() => {
    const started = value
    return new Promise<number>((resolve, reject) => runs.push({started, settle: (fail) => (fail ? reject(new Error(`run ${runs.length} failed`)) : resolve(started))}))
  })
  return {reads, runs, set: (v: number) => (value = v)}
}

const flush = () => new Promise((r) => setImmediate(r))

describe('FreshReads', () => {
  it('gives a caller that comes while a run is in flight a run started after it called, not the one in flight', async () => {
    const {reads, runs, set} = heldReads()
    const first = reads.get('k')
    set(1) // changed after the first run was sent
    const second = reads.get('k')
    expect(runs).toHaveLength(1) // queued, not sent while the first is in flight
    runs[0]!.settle()
    expect(await first).toBe(0)
    await flush()
    expect(runs).toHaveLength(2)
    runs[1]!.settle()
    expect(await second).toBe(1)
  })

  it('shares the queued run among every caller that comes before it starts: a burst costs two runs', async () => {
    const {reads, runs} = heldReads()
    const first = reads.get('k')
    const burst = Array.from({length: 10}, () => reads.get('k'))
    expect(new Set(burst).size).toBe(1)
    runs[0]!.settle()
    await first
    await flush()
    runs[1]!.settle()
    await Promise.all(burst)
    expect(runs).toHaveLength(2)
  })

  it('starts the queued run when the one in flight fails, and the queued callers get its outcome', async () => {
    const {reads, runs, set} = heldReads()
    const first = reads.get('k')
    set(2)
    const second = reads.get('k')
    runs[0]!.settle(true)
    await expect(first).rejects.toThrow('run 1 failed')
    await flush()
    runs[1]!.settle()
    expect(await second).toBe(2)
  })

  it('a caller after the queued run started gets a third run, and a key with nothing in flight starts at once', async () => {
    const {reads, runs} = heldReads()
    void reads.get('k')
    const queued = reads.get('k')
    runs[0]!.settle()
    await flush() // the queued run is now in flight
    const third = reads.get('k')
    expect(third).not.toBe(queued)
    runs[1]!.settle()
    await queued
    await flush()
    expect(runs).toHaveLength(3)
    runs[2]!.settle()
    await third
    await flush()
    void reads.get('other')
    expect(runs).toHaveLength(4) // another key: at once
  })

  it('adds no unhandled rejection of its own when runs fail, and frees the key afterwards (the next caller starts a run at once)', async () => {
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    try {
      const {reads, runs} = heldReads()
      const first = reads.get('k').catch((err: Error) => err.message)
      const queued = reads.get('k').catch((err: Error) => err.message)
      runs[0]!.settle(true)
      expect(await first).toBe('run 1 failed')
      await flush()
      runs[1]!.settle(true)
      expect(await queued).toBe('run 2 failed')
      await flush()
      await new Promise((r) => setTimeout(r, 10)) // Node reports unhandled rejections after the microtasks drain
      expect(unhandled).toEqual([])
      void reads.get('k').catch(() => {})
      expect(runs).toHaveLength(3) // started at once: nothing was left in flight or queued
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })
})
