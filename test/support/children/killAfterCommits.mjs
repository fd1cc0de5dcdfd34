// Shared by the range store kill children (routedCopyKill.mjs, routedGroupKill.mjs): a real
// StorageEngine from dist/ on a split data dir, writer core on this thread, so a hook on
// LwwWriter's transactions reaches every store's commit.
import {StorageEngine} from '../../../dist/src/node/storageEngine.js'
import {LwwWriter} from '../../../dist/src/node/lwwSql.js'

/**
 * killAfterCommits hooks every LwwWriter transaction: once armed (`arm(true)`), the process
 * SIGKILLs itself right after the `afterCommits`-th commit. Returns the arming switch.
 */
export function killAfterCommits(afterCommits) {
  let armed = false
  let commits = 0
  const original = LwwWriter.prototype.inTransaction
  LwwWriter.prototype.inTransaction = function (body) {
    const done = original.call(this, body)
    if (armed && ++commits === afterCommits) process.kill(process.pid, 'SIGKILL')
    return done
  }
  return {arm: (on) => void (armed = on)}
}

/** openSplitEngine opens the engine on `dir` as the kill tests need it: range stores read, FULL sync, no writer thread. */
export function openSplitEngine(dir) {
  return StorageEngine.open({dir, tombstoneGraceMs: 3_600_000, synchronous: 'FULL', writerThread: false, readRangeStores: true})
}
