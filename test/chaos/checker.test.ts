import {describe, expect, it} from 'vitest'
import {checkHistory, realTimeAnomalies} from './checker.js'
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

  it('accepts a read overlapping a re-issued write that sees its first attempt (same value, earlier version), not one after the ack', () => {
    const ops = [write('a', 0, 10, 'ok', 40), read('a', 5, 2, 12)]
    expect(checkHistory(ops, final('a', 40)).phantomReads).toEqual([])
    expect(checkHistory([...ops, read('a', 5, 20, 22)], final('a', 40)).phantomReads.map((a) => a.kind)).toEqual(['version-mismatch'])
  })

  it('flags a read returning the value of a write that failed (4xx: certainly no effect)', () => {
    const ops = [write('a', 0, 10), write('refused', 20, 30, 'fail', null), read('refused', 25, 40, 50)]
    expect(checkHistory(ops, final('a', 10)).phantomReads.map((a) => a.kind)).toEqual(['phantom-read'])
    expect(checkHistory(ops.slice(0, 2), final('refused', 25)).phantomReads.map((a) => a.kind)).toEqual(['phantom-read'])
  })

  it('accepts "nothing" (404 without a version) after an acknowledged delete whose tombstone was purged', () => {
    // A short --tombstone-grace: the delete's tombstone is gone from every replica, so reads and
    // the final read find no record at all. Nothing was lost; the delete is the newest write.
    const del = (invoke: number, complete: number, outcome: HistoryOp['outcome'] = 'ok', version: number | null = complete) => write(null as unknown as string, invoke, complete, outcome, version)
    const ops = [write('a', 0, 10), del(20, 30), read(null, null, 40, 50)]
    const r = checkHistory(ops, final(null, null))
    expect([r.lostWrites, r.staleReads, r.phantomReads]).toEqual([[], [], []])
    // An unacknowledged delete may have landed (and been purged) too.
    const unknown = [write('a', 0, 10), del(20, 30, 'unknown', null), read(null, null, 40, 50)]
    const u = checkHistory(unknown, final(null, null))
    expect([u.lostWrites, u.staleReads]).toEqual([[], []])
    // But nothing after an acknowledged write with no delete that could hide it stays a finding.
    const bad = checkHistory([del(0, 10), write('a', 20, 30), read(null, null, 40, 50)], final(null, null))
    expect(bad.staleReads.length).toBeGreaterThan(0)
    expect(bad.lostWrites.length).toBeGreaterThan(0)
  })

  describe('real-time order (client clock only)', () => {
    // The failure: A acked through a router 2 s ahead (version 2000), B invoked after A's ack
    // and acked through another router at version 1000. Versions alone say A is newest.
    it('flags a read returning A after B (invoked after A was acked) was acknowledged, which the version check misses', () => {
      const ops = [write('A', 0, 10, 'ok', 2000), write('B', 60, 70, 'ok', 1000), read('A', 2000, 80, 90)]
      const r = checkHistory(ops, final('B', 1000))
      expect(r.staleReads.map((a) => a.kind)).toEqual(['real-time-order'])
      expect(realTimeAnomalies(ops, final('B', 1000))).toHaveLength(1)
    })

    it('counts B as lost when the final read returns A', () => {
      const ops = [write('A', 0, 10, 'ok', 2000), write('B', 60, 70, 'ok', 1000)]
      const r = checkHistory(ops, final('A', 2000))
      expect(r.lostWrites.map((a) => a.kind)).toEqual(['lost-write'])
      expect(r.lostWrites[0]!.detail).toContain('#')
    })

    it('flags an acknowledged delete read back: a value acked before the delete began, read after the delete was acked', () => {
      const ops = [write('A', 0, 10, 'ok', 2000), write(null as unknown as string, 20, 30, 'ok', 1000), read('A', 2000, 40, 50)]
      const r = checkHistory(ops, final(null, 1000))
      expect(r.staleReads.some((a) => a.kind === 'real-time-order')).toBe(true)
      // ... and a final read of the value is a lost (undone) delete.
      expect(checkHistory(ops.slice(0, 2), final('A', 2000)).lostWrites.length).toBeGreaterThan(0)
    })

    it('accepts reads concurrent with the later write, deletes that may follow, and unacknowledged writes anywhere after invocation', () => {
      const ops = [
        write('A', 0, 10),
        write('B', 20, 40),
        read('A', 10, 25, 35), // concurrent with B: either
        write(null as unknown as string, 50, 60, 'unknown', null),
        read(null, null, 70, 80), // the unknown delete may have landed
        write('C', 90, 95, 'unknown', 95),
        read('C', 95, 100, 105),
        read('B', 40, 110, 115), // the unknown C may also not have landed; the delete may not either
      ]
      expect(realTimeAnomalies(ops, final('C', 95))).toEqual([])
    })

    it('flags a 404 after an acknowledged write when no delete could have followed it', () => {
      const ops = [write(null as unknown as string, 1, 5), write('A', 6, 10), read(null, null, 20, 30)]
      expect(realTimeAnomalies(ops, final('A', 10)).map((a) => a.kind)).toEqual(['real-time-order'])
    })
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
    expect(checkHistory(rewritten, final(null, null)).lostWrites).toHaveLength(1) // only b: a was deleted after it, the delete left nothing
  })
})
