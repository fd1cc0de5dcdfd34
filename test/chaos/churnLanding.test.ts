import {describe, expect, it} from 'vitest'
import {churnLanding} from './churnLanding.js'
import {churnStep, type HistoryOp} from './history.js'

const GRACE = 3000
const T0 = 1_000_000

/**
 * churnHistory is what the delete-churn workload records: 4 workers, each running
 * churnStep's operations back to back for `seconds`, one per `latencyMs` (a slow machine:
 * a larger latency), every one acknowledged unless `outcome` says otherwise.
 */
function churnHistory(seconds: number, latencyMs: number, outcome: (op: HistoryOp) => HistoryOp['outcome'] = () => 'ok'): HistoryOp[] {
  const ops: HistoryOp[] = []
  for (let w = 0; w < 4; w++) {
    for (let seq = 0, t = T0 + w * 7; t + latencyMs <= T0 + seconds * 1000; seq++, t += latencyMs) {
      const step = churnStep(true, w, seq, 12)
      const op: HistoryOp = {id: ops.length, worker: w, key: step.key, kind: step.kind, value: step.kind === 'write' && !step.del ? `w${w}-s${seq}` : null, invoke: t, complete: t + latencyMs, outcome: 'ok', status: 200, version: null, router: 'r1'}
      op.outcome = outcome(op)
      ops.push(op)
    }
  }
  return ops
}

/** run is the scenario's figures: the kill at 6 s, the node back at 8 s, 40 s of history; purges as given. */
function run(ops: HistoryOp[], purges: {total: number; since: number}) {
  return {ops, faultAt: T0 + 6000, restartedAt: T0 + 8000, graceMs: GRACE, purges}
}

describe('churnLanding', () => {
  it('Given an idle run (an operation every 15 ms per worker) with its tombstones purged, When judged, Then the fault landed', () => {
    const ops = churnHistory(40, 15)
    const {problems, note} = churnLanding(run(ops, {total: 2000, since: 1700}))
    expect(problems).toEqual([])
    expect(note).toMatch(/^fault window: \d+ of \d+ deletes acked/)
  })

  it('Given a slow machine (an operation every 400 ms per worker: under 100 old deletes) doing the same, When judged, Then the fault landed (fixed counts of 100 failed it)', () => {
    const ops = churnHistory(40, 400)
    const deletes = ops.filter((o) => o.kind === 'write' && o.value === null && o.complete <= T0 + 31_000).length
    expect(deletes).toBeLessThan(100)
    expect(churnLanding(run(ops, {total: 3 * deletes, since: 2 * deletes})).problems).toEqual([])
  })

  it('Given a run whose deletes were never acknowledged, When judged, Then it did not land, naming the deletes', () => {
    const ops = churnHistory(40, 15, (o) => (o.kind === 'write' && o.value === null ? 'unknown' : 'ok'))
    const {problems} = churnLanding(run(ops, {total: 2000, since: 1700}))
    expect(problems.join('\n')).toMatch(/only 0 of the \d+ deletes issued in the fault window were acknowledged/)
    expect(problems.join('\n')).toMatch(/reads in the fault window read a key deleted 2 graces before/)
  })

  it('Given a run whose nodes purged next to nothing, When judged, Then it did not land, naming the purges in all and after the restart', () => {
    const problems = churnLanding(run(churnHistory(40, 15), {total: 12, since: 0})).problems.join('\n')
    expect(problems).toMatch(/purged only 12 tombstones for \d+ old deletes/)
    expect(problems).toMatch(/purged only 0 tombstones after the restart/)
  })

  it('Given a run whose reads never read a long-deleted key, When judged, Then it did not land, naming the read-backs', () => {
    // Every read-back fails (no answer): none counts, only the window's other reads would.
    const ops = churnHistory(40, 15, (o) => (o.kind === 'read' ? 'fail' : 'ok'))
    expect(churnLanding(run(ops, {total: 2000, since: 1700})).problems.join('\n')).toMatch(/only 0 of the 0 reads in the fault window/)
  })

  it('Given a run that ended right after the kill, When judged, Then it did not land: no delete of the window could be old', () => {
    const ops = churnHistory(9, 15)
    expect(churnLanding(run(ops, {total: 2000, since: 1700})).problems.join('\n')).toMatch(/only 0 of the 0 deletes issued in the fault window/)
  })
})
