import {readFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'
import {StorageWriter} from '../../src/node/storageWriter.js'
import {mayRestoreNice, type PriorityIo, systemPriorityIo, writerBackgroundNice, WriterPriority} from '../../src/node/writerPriority.js'
import {engineFixture, rec, v} from './engineFixture.js'

const open = engineFixture('writer-priority', {})

/** fakeIo records every setPriority; the thread starts at `base`. */
function fakeIo(base = 0, opts: {mayRestore?: boolean; refuse?: (nice: number) => boolean} = {}): PriorityIo & {calls: [number, number][]} {
  const calls: [number, number][] = []
  return {
    calls,
    getPriority: () => base,
    setPriority: (tid, nice) => {
      if (opts.refuse?.(nice)) throw new Error('EACCES')
      calls.push([tid, nice])
    },
    mayRestore: () => opts.mayRestore ?? true,
  }
}

const limits = (soft: number) => `Limit                     Soft Limit           Hard Limit           Units     \nMax nice priority         ${soft}                    ${soft}                    \nMax realtime priority     0                    0                    \n`

describe('mayRestoreNice', () => {
  it('given CAP_SYS_NICE in the effective set, then the way back is allowed whatever RLIMIT_NICE says', () => {
    expect(mayRestoreNice('Name:\tnode\nCapEff:\t000001fffeffffff\n', limits(0), 0)).toBe(true)
    expect(mayRestoreNice('CapEff:\t0000000000800000\n', limits(0), 0)).toBe(true)
  })

  it('given no CAP_SYS_NICE, then only an RLIMIT_NICE reaching the starting value allows it (nice may go down to 20 - limit)', () => {
    const noCap = 'CapEff:\t00000000a80425fb\n'
    expect(mayRestoreNice(noCap, limits(0), 0)).toBe(false)
    expect(mayRestoreNice(noCap, limits(19), 0)).toBe(false)
    expect(mayRestoreNice(noCap, limits(20), 0)).toBe(true)
    expect(mayRestoreNice(noCap, limits(15), 5)).toBe(true)
    expect(mayRestoreNice(noCap, limits(15), 4)).toBe(false)
  })

  it('given text it cannot read, then it answers false', () => {
    expect(mayRestoreNice('', '', 0)).toBe(false)
    expect(mayRestoreNice('CapEff: zz\n', 'Max nice priority unlimited unlimited\n', 0)).toBe(false)
  })
})

describe('writerBackgroundNice', () => {
  it('given no override, then 10; given 0..19, then that; given anything else, then 0 (off)', () => {
    expect(writerBackgroundNice(undefined)).toBe(10)
    expect(writerBackgroundNice(' ')).toBe(10)
    expect(writerBackgroundNice('0')).toBe(0)
    expect(writerBackgroundNice('19')).toBe(19)
    for (const bad of ['20', '-1', '2.5', 'low']) expect(writerBackgroundNice(bad)).toBe(0)
  })
})

describe('WriterPriority', () => {
  it('given changes, then it calls setpriority only when the wanted value changes, relative to the starting value', () => {
    const io = fakeIo(3)
    const p = new WriterPriority(42, 10, io)
    expect(p.disabled).toBeUndefined()
    p.background(false)
    p.background(true)
    p.background(true)
    p.background(false)
    expect(io.calls).toEqual([
      [42, 13],
      [42, 3],
    ])
  })

  it('given a process that may not lower a nice value again, then it never raises it', () => {
    const io = fakeIo(0, {mayRestore: false})
    const p = new WriterPriority(42, 10, io)
    p.background(true)
    expect(io.calls).toEqual([])
    expect(p.disabled).toMatch(/CAP_SYS_NICE/)
  })

  it('given a thread already near the lowest priority, then it does nothing', () => {
    const io = fakeIo(12)
    const p = new WriterPriority(42, 10, io)
    p.background(true)
    expect(io.calls).toEqual([])
    expect(p.disabled).toMatch(/nice 12/)
  })

  it('given the way back refused, then it turns itself off and the next calls do nothing', () => {
    const io = fakeIo(0, {refuse: (nice) => nice === 0})
    const p = new WriterPriority(42, 10, io)
    p.background(true)
    p.background(false)
    expect(p.disabled).toMatch(/setpriority\(42, 0\) failed/)
    p.background(true)
    p.background(false)
    expect(io.calls).toEqual([[42, 10]])
  })
})

describe('StorageWriter lowers its thread only for background work no client waits on', {timeout: 30_000}, () => {
  /** writerOn opens a StorageWriter on a fresh engine's file with the given priority system calls, and waits for its thread's id. */
  async function writerOn(io: PriorityIo & {tid?: number}, by = 10) {
    const {engine, dir} = open()
    await engine.close()
    const off: string[] = []
    const tracked: PriorityIo & {tid?: number} = {
      ...io,
      getPriority: (tid) => {
        io.tid = tid
        return io.getPriority(tid)
      },
    }
    const writer = new StorageWriter({file: `${dir}/shardctl-node.sqlite`, synchronous: 'NORMAL', pageSize: 16384, maxTxnBytes: 1 << 20, committed: () => {}, backgroundNice: by, priorityIo: tracked, priorityOff: (r) => off.push(r)})
    // The thread's id arrives before its first reply.
    await writer.run({op: 'meta', name: 'warm', value: '1'})
    return {writer, off}
  }

  it('given a checkpoint alone, then it runs lowered; given a client write queued while it runs, then the thread is raised back at once, before the write is sent', async () => {
    const io = fakeIo(0)
    const {writer} = await writerOn(io)
    try {
      await writer.run({op: 'checkpoint'})
      expect(io.calls.map(([, n]) => n)).toEqual([10])
      const inFlight = () => (writer as unknown as {inFlight?: unknown}).inFlight !== undefined
      let raisedWhileRunning = false
      for (let attempt = 0; attempt < 20 && !raisedWhileRunning; attempt++) {
        const running = writer.run({op: 'checkpoint'})
        // Posted on a later turn: wait until it is in flight (a checkpoint of an empty WAL may even be answered by then: try again).
        await new Promise((r) => setImmediate(r))
        if (inFlight()) {
          const before = io.calls.length
          const write = writer.apply([rec(`k${attempt}`, v(1), 'x')], {clientWrite: true})
          // Raised synchronously by the queueing itself, while the checkpoint still runs.
          expect(io.calls.slice(before).map(([, n]) => n)).toEqual([0])
          raisedWhileRunning = true
          await Promise.all([running, write])
        } else await running
      }
      expect(raisedWhileRunning).toBe(true)
    } finally {
      await writer.close()
    }
  })

  it('given background work posted with a client write already queued behind it, then it runs at the normal priority', async () => {
    const io = fakeIo(0)
    const {writer} = await writerOn(io)
    try {
      await Promise.all([writer.run({op: 'purge', range: {lo: 0, hi: 2 ** 32}, before: 1, limit: 10}, 'purge'), writer.apply([rec('k', v(1), 'x')], {clientWrite: true})])
      expect(io.calls).toEqual([])
      await writer.run({op: 'purge', range: {lo: 0, hi: 2 ** 32}, before: 1, limit: 10}, 'purge')
      expect(io.calls.map(([, n]) => n)).toEqual([10])
      await writer.apply([rec('k2', v(2), 'y')], {clientWrite: true})
      expect(io.calls.map(([, n]) => n)).toEqual([10, 0])
    } finally {
      await writer.close()
    }
  })

  it('given backgroundNice 0, then the thread is never touched', async () => {
    const io = fakeIo(0)
    const {writer, off} = await writerOn(io, 0)
    try {
      await writer.run({op: 'checkpoint'})
      expect(io.calls).toEqual([])
      expect(off).toEqual([])
    } finally {
      await writer.close()
    }
  })

  it('on this machine, the real writer thread (by its /proc id) runs at +10 after background work and at its starting value after a client write, or says why it cannot', async () => {
    const io: PriorityIo & {tid?: number} = {...systemPriorityIo}
    const {writer, off} = await writerOn(io)
    const niceOf = (tid: number) => Number(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16])
    try {
      const tid = io.tid
      if (off.length > 0) {
        // An unprivileged run: nothing may be lowered, so nothing was.
        expect(off[0]).toMatch(/CAP_SYS_NICE|nice/)
        return
      }
      expect(tid).toBeGreaterThan(0)
      const base = niceOf(tid!)
      await writer.run({op: 'checkpoint'})
      expect(niceOf(tid!)).toBe(Math.min(19, base + 10))
      await writer.apply([rec('k', v(1), 'x')], {clientWrite: true})
      expect(niceOf(tid!)).toBe(base)
    } finally {
      await writer.close()
    }
  })
})
