import {kv} from '../integration/router/dataPlane.js'

/** WorkloadReport is what a client workload saw: every acknowledged write and every failure. */
export interface WorkloadReport {
  ops: number
  writesAcked: number
  reads: number
  failures: {op: string; key: string; status: number; detail: string}[]
  /** lastAcked is, per key, the value of the last write the router acknowledged. */
  lastAcked: Map<string, string>
  /** readStale counts reads that returned an older value than the last write acknowledged before the read began. */
  staleReads: number
}

/**
 * runWorkload drives `workers` sequential clients through the router, each owning its own
 * keys (so per key the last acknowledged write is the latest), alternating writes and
 * reads, until `stop` fires or `maxOps` operations or `maxMs` pass — bounded in count and
 * time. Reads check they never return a value older than the last acknowledged write.
 */
export function runWorkload(router: string, opts: {workers: number; keysPerWorker: number; maxOps: number; maxMs: number; stop: AbortSignal}): Promise<WorkloadReport> {
  const report: WorkloadReport = {ops: 0, writesAcked: 0, reads: 0, failures: [], lastAcked: new Map(), staleReads: 0}
  const deadline = Date.now() + opts.maxMs
  const worker = async (w: number) => {
    let seq = 0
    while (!opts.stop.aborted && Date.now() < deadline && report.ops < opts.maxOps) {
      const key = `w${w}-k${seq % opts.keysPerWorker}`
      const isWrite = seq % 3 !== 2
      seq++
      report.ops++
      try {
        if (isWrite) {
          const value = `w${w}-s${seq}-${'v'.repeat(64)}`
          const r = await kv(router, 'PUT', key, value)
          if (r.status >= 200 && r.status < 300) {
            report.writesAcked++
            report.lastAcked.set(key, value)
          } else report.failures.push({op: 'PUT', key, status: r.status, detail: r.body.toString().slice(0, 200)})
        } else {
          const expected = report.lastAcked.get(key)
          const r = await kv(router, 'GET', key)
          report.reads++
          if (r.status === 200) {
            if (expected !== undefined && r.body.toString() !== expected) report.staleReads++
          } else if (!(r.status === 404 && expected === undefined)) report.failures.push({op: 'GET', key, status: r.status, detail: r.body.toString().slice(0, 200)})
        }
      } catch (err) {
        report.failures.push({op: isWrite ? 'PUT' : 'GET', key, status: 0, detail: String(err)})
      }
    }
  }
  return Promise.all(Array.from({length: opts.workers}, (_, w) => worker(w))).then(() => report)
}
