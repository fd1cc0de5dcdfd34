import {boundedWait} from '../clock/boundedWait.js'

/**
 * stopWithin resolves when `work` (a daemon's loop that ends once `signalled` has fired and it
 * has wound down) ends, or `ms` after `signalled` fired if it has not ended by then, once
 * `gaveUp` (called then, and awaited: it may release what the loop held, bounded) is done.
 * Rejects with `work`'s error when it fails before that.
 *
 * Why: the autopilot's loop winds down by finishing the etcd call in flight and releasing its
 * lock, and while etcd does not answer (frozen) each call waits out its deadline and etcd3's
 * resends: a SIGTERM took from 26 s to more than 90 s. Leaving without it is what a crash
 * does, which the autopilot and its executor survive by design (moves resume from their
 * recorded phase; the lock expires with its lease).
 */
export async function stopWithin(work: Promise<void>, signalled: Promise<unknown>, ms: number, gaveUp: () => void | Promise<void>): Promise<void> {
  const afterSignal = signalled.then(async () => {
    if (!(await boundedWait(work, ms)).done) await gaveUp()
  })
  await Promise.race([work, afterSignal])
}
