import {describe, expect, it} from 'vitest'
import {seededRandom} from '../../bench/seededRandom.js'
import {WalSyncPacer, type WalSyncTask} from '../../src/node/walSyncPacer.js'

const limits = {flushBytes: 4 << 20, checkpointBytes: 16 << 20}

describe('WalSyncPacer', () => {
  it('given unsynced copy commits, when they pass the flush limit, then one flush starts and no second until it finished', () => {
    const p = new WalSyncPacer(limits)
    const tasks: WalSyncTask[] = []
    for (let i = 0; i < 3; i++) tasks.push(p.committed(2 << 20, false))
    expect(tasks).toEqual([undefined, 'flush', undefined])
    expect(p.committed(2 << 20, false)).toBeUndefined()
    // 4 MiB committed while the flush ran: its end starts the next flush, without waiting for a commit.
    expect(p.finished()).toBe('flush')
    expect(p.committed(1, false)).toBeUndefined()
    expect(p.finished()).toBeUndefined()
  })

  it('given the commits that pass the checkpoint limit all land while a flush runs, when the flush ends, then the checkpoint they owe starts (no later commit may come to ask for it)', () => {
    const p = new WalSyncPacer(limits)
    expect(p.committed(4 << 20, false)).toBe('flush')
    for (let i = 0; i < 6; i++) expect(p.committed(2 << 20, true)).toBeUndefined()
    expect(p.finished()).toBe('checkpoint')
    expect(p.finished()).toBeUndefined()
  })

  it('given fsyncd commits between unsynced ones, when counted, then each fsync zeroes the unsynced bytes (it made them durable) and no flush is asked for', () => {
    const p = new WalSyncPacer(limits)
    for (let i = 0; i < 3; i++) {
      expect(p.committed(3 << 20, false)).toBeUndefined()
      expect(p.pendingUnsynced()).toBe(3 << 20)
      expect(p.committed(1000, true)).toBeUndefined()
      expect(p.pendingUnsynced()).toBe(0)
    }
  })

  it('given commits past the checkpoint limit, when counted, then a checkpoint starts (it flushes the WAL too, so the unsynced count restarts)', () => {
    const p = new WalSyncPacer({flushBytes: 64 << 20, checkpointBytes: 16 << 20})
    const tasks = Array.from({length: 9}, () => p.committed(2 << 20, true))
    expect(tasks.filter((t) => t !== undefined)).toEqual(['checkpoint'])
    expect(tasks.indexOf('checkpoint')).toBe(7)
    expect(p.pendingUnsynced()).toBe(0)
  })

  it('given random commits and tasks that finish at random, when replayed, then the unsynced bytes never exceed the limit plus one commit plus what committed while a task ran', () => {
    const rnd = seededRandom(12)
    const p = new WalSyncPacer(limits)
    let running = false
    let sinceStart = 0
    let worst = 0
    for (let i = 0; i < 5000; i++) {
      const bytes = Math.floor(rnd() * (2 << 20))
      const task = p.committed(bytes, rnd() < 0.05)
      if (running) sinceStart += bytes
      if (task) {
        expect(running).toBe(false)
        running = true
        sinceStart = 0
      }
      const bound = limits.flushBytes + (2 << 20) + (running ? sinceStart : 0)
      worst = Math.max(worst, p.pendingUnsynced() / bound)
      expect(p.pendingUnsynced()).toBeLessThanOrEqual(bound)
      if (running && rnd() < 0.3) {
        // The task owed at its end starts at once.
        running = p.finished() !== undefined
        sinceStart = 0
      }
    }
    // The bound is tight enough to be reached: the test would notice a pacer that never flushes.
    expect(worst).toBeGreaterThan(0.5)
  })

  it('given a checkpoint asked for out of turn, then it takes the one task slot (no commit starts another until it finished) and restarts the counts; while a task runs it is refused', () => {
    const p = new WalSyncPacer({flushBytes: 4, checkpointBytes: 10})
    expect(p.committed(3, false)).toBeUndefined()
    expect(p.checkpointNow()).toBe(true)
    expect(p.pendingUnsynced()).toBe(0)
    expect(p.committed(20, false)).toBeUndefined()
    expect(p.checkpointNow()).toBe(false)
    // The 20 bytes committed while it ran count toward the next task, which its end starts.
    expect(p.finished()).toBe('checkpoint')
    expect(p.checkpointNow()).toBe(false)
  })

  it('given a checkpoint that copied nothing (SQLite then skips its WAL sync: a reader holding an old snapshot, the checkpoint lock held), when it ended, then the unsynced bytes it had zeroed count again and its end starts a flush', () => {
    const p = new WalSyncPacer({flushBytes: 4, checkpointBytes: 100})
    expect(p.committed(3, false)).toBeUndefined()
    expect(p.checkpointNow()).toBe(true)
    expect(p.committed(2, false)).toBeUndefined()
    p.checkpointEnded(false)
    // The 5 bytes count again, so its end starts a flush of them.
    expect(p.finished()).toBe('flush')
    expect(p.pendingUnsynced()).toBe(0)
  })

  it('given a checkpoint started by the commits (not out of turn) that copied nothing, when it ended, then its zeroed unsynced bytes count again too', () => {
    const p = new WalSyncPacer({flushBytes: 8, checkpointBytes: 10})
    expect(p.committed(6, false)).toBeUndefined()
    expect(p.committed(6, false)).toBe('checkpoint')
    p.checkpointEnded(false)
    // The 12 bytes count again, so its end starts a flush of them.
    expect(p.finished()).toBe('flush')
    expect(p.pendingUnsynced()).toBe(0)
  })

  it('given a checkpoint that copied frames (it fsyncd the WAL first), when it ended, then only the bytes committed while it ran stay unsynced', () => {
    const p = new WalSyncPacer({flushBytes: 4, checkpointBytes: 100})
    p.committed(3, false)
    expect(p.checkpointNow()).toBe(true)
    p.committed(2, false)
    p.checkpointEnded(true)
    p.finished()
    expect(p.pendingUnsynced()).toBe(2)
  })

  it('given a fsyncd commit while a checkpoint ran, when the checkpoint ended having copied nothing, then nothing is given back (that commit made the earlier bytes durable)', () => {
    const p = new WalSyncPacer({flushBytes: 4, checkpointBytes: 100})
    p.committed(3, false)
    expect(p.checkpointNow()).toBe(true)
    p.committed(1, true)
    p.committed(2, false)
    p.checkpointEnded(false)
    p.finished()
    expect(p.pendingUnsynced()).toBe(2)
  })
})
