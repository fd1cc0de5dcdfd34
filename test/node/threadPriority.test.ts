import {readdirSync, readFileSync, readlinkSync} from 'node:fs'
import {describe, expect, it} from 'vitest'
import {COPY_THREAD_NICE, copyThreadNice, lowerThisThreadPriority, threadIdOf, type ThreadPriorityIo} from '../../src/node/threadPriority.js'
import {ALL, engineFixture, rec, v} from './engineFixture.js'

/** niceOf reads a thread's nice value from /proc/self/task/<tid>/stat (field 19; the command name may hold spaces, so count after its ')'). */
function niceOf(tid: number): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])
}

/** threadNices is every thread of this process with its nice value. */
function threadNices(): {tid: number; nice: number}[] {
  return readdirSync('/proc/self/task').map((t) => ({tid: Number(t), nice: niceOf(Number(t))}))
}

/** fakeIo records setPriority calls and starts every thread at `start`. */
function fakeIo(link: string, start = 0, refuse?: Error): ThreadPriorityIo & {set: [number, number][]} {
  const set: [number, number][] = []
  return {
    set,
    readlink: () => link,
    getPriority: () => start,
    setPriority: (tid, nice) => {
      if (refuse) throw refuse
      set.push([tid, nice])
    },
  }
}

describe('threadPriority', () => {
  it('takes 10 unless SHARDCTL_COPY_THREAD_NICE says otherwise; a bad value is refused where it is used', () => {
    expect(copyThreadNice(undefined)).toBe(10)
    expect(copyThreadNice(' ')).toBe(10)
    expect(copyThreadNice('0')).toBe(0)
    expect(copyThreadNice('5')).toBe(5)
    expect(lowerThisThreadPriority(copyThreadNice('fast'), fakeIo('1/task/2'))).toMatchObject({ok: false, reason: expect.stringContaining('got NaN') as unknown})
  })

  it('parses /proc/thread-self targets and nothing else', () => {
    expect(threadIdOf('1234/task/1240')).toBe(1240)
    expect(threadIdOf('1234/task/1240\n')).toBe(1240)
    for (const bad of ['', '1234', '1234/task/', 'self/task/1', '1234/task/0', '1234/task/12x', '/proc/1234/task/1240']) expect(threadIdOf(bad)).toBeUndefined()
  })

  it('raises the calling thread’s nice value by the increment, relative to where it was and capped at 19', () => {
    const io = fakeIo('77/task/80')
    expect(lowerThisThreadPriority(10, io)).toEqual({ok: true, tid: 80, nice: 10})
    expect(io.set).toEqual([[80, 10]])
    const niced = fakeIo('77/task/81', 15)
    expect(lowerThisThreadPriority(10, niced)).toEqual({ok: true, tid: 81, nice: 19})
    expect(niced.set).toEqual([[81, 19]])
  })

  it('never throws: says why and changes nothing where it cannot', () => {
    const noProc: ThreadPriorityIo = {readlink: () => { throw new Error('ENOENT') }, getPriority: () => 0, setPriority: () => { throw new Error('must not be called') }}
    expect(lowerThisThreadPriority(10, noProc)).toMatchObject({ok: false, reason: expect.stringContaining('no /proc/thread-self') as unknown})
    const odd = fakeIo('thread-self')
    expect(lowerThisThreadPriority(10, odd)).toMatchObject({ok: false, reason: expect.stringContaining('unexpected') as unknown})
    expect(odd.set).toEqual([])
    expect(lowerThisThreadPriority(10, fakeIo('1/task/2', 0, new Error('EACCES')))).toMatchObject({ok: false, reason: expect.stringContaining('EACCES') as unknown})
    for (const by of [-1, 1.5, 40, Number.NaN]) expect(lowerThisThreadPriority(by, fakeIo('1/task/2')).ok).toBe(false)
  })
})

/** startNice is the nice value this process runs at: at 19 (the floor, e.g. a run under `nice -n 19`) no thread can go below the others, so there is nothing to see. */
const startNice = process.platform === 'linux' ? niceOf(threadIdOf(readlinkSync('/proc/thread-self')) ?? 0) : 0

describe.runIf(process.platform === 'linux' && startNice < 19)('the copy reader thread on Linux', {timeout: 60_000}, () => {
  const open = engineFixture('threadpriority', {})

  it('runs below the threads serving clients, and lowers no other thread', async () => {
    const self = threadIdOf(readlinkSync('/proc/thread-self'))
    expect(self).toBeDefined()
    const base = niceOf(self ?? 0)
    const lowered = () => threadNices().filter((t) => t.nice === Math.min(19, base + COPY_THREAD_NICE)).map((t) => t.tid)
    const before = new Set(lowered())
    const {engine} = open()
    await engine.apply([rec('a', v(1), 'x')]) // the writer thread is up
    expect(lowered().filter((t) => !before.has(t))).toEqual([]) // the writer thread serves clients: normal priority
    await engine.readCopyPage(ALL, undefined, 1 << 20) // starts the copy reader thread
    const fresh = lowered().filter((t) => !before.has(t))
    expect(fresh).toHaveLength(1)
    expect(niceOf(self ?? 0)).toBe(base) // this (the event loop's) thread is untouched
    await engine.close()
    expect(lowered().filter((t) => !before.has(t))).toEqual([])
  })
})
