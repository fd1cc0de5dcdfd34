import {describe, expect, it} from 'vitest'
import {churnStep} from './history.js'

/** steps lists worker 0's first `n` delete-churn operations. */
const steps = (n: number) => Array.from({length: n}, (_, seq) => churnStep(true, 0, seq, 12))
const index = (key: string) => Number(key.slice(key.indexOf('-d') + 2))

describe('churnStep (delete-churn)', () => {
  it('Given a worker, When it churns, Then each fresh key is PUT, PUT, DELETEd in that order', () => {
    expect(steps(4).slice(0, 3)).toEqual([
      {key: 'w0-d0', kind: 'write', del: false},
      {key: 'w0-d0', kind: 'write', del: false},
      {key: 'w0-d0', kind: 'write', del: true},
    ])
  })

  it('Given 600 operations, When the read-backs are listed, Then each reads a key already deleted, and they spread over old and recent keys', () => {
    const deleted = new Set<string>()
    const reads: Array<{i: number; key: string}> = []
    steps(600).forEach((s, seq) => {
      if (s.del) deleted.add(s.key)
      if (s.kind === 'read') reads.push({i: Math.floor(seq / 4), key: s.key})
    })
    for (const r of reads) expect(deleted.has(r.key), `read of ${r.key} at key ${r.i}`).toBe(true)
    const distinct = new Set(reads.map((r) => r.key))
    // The read-back is the scenario's resurrection probe: it must visit many deleted keys
    // (they hash onto many shards, so onto moved ones), not the same one over and over.
    expect(distinct.size).toBeGreaterThanOrEqual(reads.length / 3)
    expect(reads.some((r) => r.i > 50 && r.i - index(r.key) <= 5)).toBe(true)
    expect(reads.some((r) => r.i > 50 && r.i - index(r.key) >= 50)).toBe(true)
  })
})
