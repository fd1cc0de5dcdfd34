import {describe, expect, it} from 'vitest'
import {checkHistory} from './checker.js'
import {type FinalRead, type HistoryOp} from './history.js'

let id = 0
const v = (n: number) => `${String(n).padStart(15, '0')}.000000.r1`
function write(value: string, invoke: number, complete: number, outcome: HistoryOp['outcome'] = 'ok', version: number | null = complete): HistoryOp {
  return {id: id++, worker: 0, key: 'k', kind: 'write', value, invoke, complete, outcome, status: outcome === 'ok' ? 204 : 0, version: version === null ? null : v(version), router: 'r'}
}
function read(value: string | null, version: number | null, invoke: number, complete: number): HistoryOp {
  return {id: id++, worker: 1, key: 'k', kind: 'read', value, invoke, complete, outcome: 'ok', status: value === null ? 404 : 200, version: version === null ? null : v(version), router: 'r'}
}
const final = (value: string | null, version: number | null): Map<string, FinalRead> => new Map([['k', {status: value === null ? 404 : 200, value, version: version === null ? null : v(version)}]])

describe('checkHistory', () => {
  it('accepts a linear history: reads see the newest completed write, the final read the newest ack', () => {
    const ops = [write('a', 0, 10), read('a', 10, 11, 12), write('b', 20, 30), read('b', 30, 31, 32)]
    const r = checkHistory(ops, final('b', 30))
    expect([r.lostWrites, r.staleReads, r.phantomReads]).toEqual([[], [], []])
    expect(r.writesAcked).toBe(2)
  })

  it('accepts a read concurrent with a write returning either value', () => {
    const ops = [write('a', 0, 10), write('b', 20, 30), read('a', 10, 25, 35), read('b', 30, 26, 36)]
    expect(checkHistory(ops, final('b', 30)).staleReads).toEqual([])
  })

  it('flags a read older than a write acknowledged before it began, and a 404 after an ack', () => {
    const ops = [write('a', 0, 10), write('b', 20, 30), read('a', 10, 31, 32), read(null, null, 33, 34)]
    expect(checkHistory(ops, final('b', 30)).staleReads.map((a) => a.kind)).toEqual(['stale-read', 'stale-read'])
  })

  it('flags a value never written and a version contradicting the ack', () => {
    const ops = [write('a', 0, 10), read('zzz', 10, 11, 12), read('a', 99, 13, 14)]
    expect(checkHistory(ops, final('a', 10)).phantomReads.map((a) => a.kind)).toEqual(['phantom-read', 'version-mismatch'])
  })

  it('counts every acknowledged write newer than the final version as lost', () => {
    const ops = [write('a', 0, 10), write('b', 20, 30), write('c', 40, 50)]
    expect(checkHistory(ops, final('a', 10)).lostWrites).toHaveLength(2)
    expect(checkHistory(ops, final(null, null)).lostWrites).toHaveLength(3)
  })

  it('accepts an unknown write being visible (or newer than the acks) but never requires it', () => {
    const ops = [write('a', 0, 10), write('x', 20, 30, 'unknown', 25)]
    expect(checkHistory(ops, final('x', 25)).lostWrites).toEqual([])
    expect(checkHistory(ops, final('a', 10)).lostWrites).toEqual([])
  })

  it('accepts deletes: a 404 with the tombstone version, or with none once purged, after an acknowledged DELETE; the final read may be absent', () => {
    const del = (invoke: number, complete: number) => ({...write('x', invoke, complete), value: null})
    const ops = [write('a', 0, 10), del(20, 30), read(null, 30, 31, 32), read(null, null, 40, 41)]
    const r = checkHistory(ops, final(null, null))
    expect([r.lostWrites, r.staleReads, r.phantomReads]).toEqual([[], [], []])
    expect(r.writesAcked).toBe(2)
  })

  it('flags a deleted value coming back (after a purge), and an absent key after an acknowledged PUT that followed the DELETE', () => {
    const del = (invoke: number, complete: number) => ({...write('x', invoke, complete), value: null})
    const resurrected = [write('a', 0, 10), del(20, 30), read('a', 10, 40, 41)]
    expect(checkHistory(resurrected, final(null, null)).staleReads.map((a) => a.kind)).toEqual(['stale-read'])
    expect(checkHistory([write('a', 0, 10), del(20, 30)], final('a', 10)).lostWrites).toHaveLength(1)
    const rewritten = [write('a', 0, 10), del(20, 30), write('b', 40, 50), read(null, null, 60, 61)]
    expect(checkHistory(rewritten, final(null, null)).staleReads).toHaveLength(1)
    expect(checkHistory(rewritten, final(null, null)).lostWrites).toHaveLength(3) // nothing visible: every ack counts
  })
})
